using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The row-level plumbing of <see cref="MambaLanguageModelTransformer"/>: an ML.NET custom mapping from a text
/// column to a new text column, with the column names chosen at run time through schema definitions.
/// </summary>
internal static class PromptMapping
{
    public sealed class Input { public string? Prompt { get; set; } }
    public sealed class Output { public string Text { get; set; } = ""; }

    public static SchemaDefinition InputSchema(string promptColumnName)
    {
        var schema = SchemaDefinition.Create(typeof(Input));
        schema[0].ColumnName = promptColumnName;
        return schema;
    }

    public static SchemaDefinition OutputSchema(string outputColumnName)
    {
        var schema = SchemaDefinition.Create(typeof(Output));
        schema[0].ColumnName = outputColumnName;
        return schema;
    }

    public static CustomMappingEstimator<Input, Output> Estimator(MLContext context, string promptColumnName, string outputColumnName,
        Func<string?, string> continuation) =>
        context.Transforms.CustomMapping<Input, Output>((input, output) => output.Text = continuation(input.Prompt),
            contractName: null, InputSchema(promptColumnName), OutputSchema(outputColumnName));
}
