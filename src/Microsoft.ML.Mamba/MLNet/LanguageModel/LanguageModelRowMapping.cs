using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>The rows of a <see cref="MambaLanguageModelTransformer"/>: the prompt column continued, one row at a time, into a new text column.</summary>
internal sealed class LanguageModelRowMapping(string promptColumnName, string outputColumnName, Func<string, string> continuation) : IRowMapping<string>
{
    public DataViewSchema.Column[] ResolveInputs(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(promptColumnName);
        if (column is null || column.Value.IsHidden)
            throw new ArgumentOutOfRangeException(nameof(schema), $"The prompt column '{promptColumnName}' is not in the data.");
        if (column.Value.Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"The prompt column '{promptColumnName}' must hold text, but holds {column.Value.Type}.");
        return [column.Value];
    }

    public Func<string> MakeInputReader(DataViewRow row)
    {
        var get = row.GetGetter<ReadOnlyMemory<char>>(ResolveInputs(row.Schema)[0]);
        ReadOnlyMemory<char> prompt = default;
        return () => { get(ref prompt); return prompt.ToString(); };
    }

    /// <summary>One: generation is the slow part and gains nothing from waiting for more rows.</summary>
    public int BatchSize => 1;

    public string[] Map(IReadOnlyList<string> inputs) => inputs.Select(continuation).ToArray();

    public DataViewSchema MakeOutputSchema(DataViewSchema input)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        builder.AddColumn(outputColumnName, TextDataViewType.Instance);
        return builder.ToSchema();
    }

    public Delegate MakeGetter(string name, Func<string> current) => name == outputColumnName
        ? (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = current().AsMemory())
        : throw new ArgumentOutOfRangeException(nameof(name), $"'{name}' is not an output column of this Mamba language model.");
}
