using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// What a Mamba transformer computes per row, for the shared <see cref="MambaRowToRowMapper{TResult}"/>
/// (PredictionEngine, one row at a time) and <see cref="MambaScoredDataView{TResult}"/> (Transform, in
/// batches): the input columns it reads, a row's input as text, a batch of inputs as results, and the columns
/// the results fill. The sequence transformer scores texts; the language-model transformer continues prompts.
/// </summary>
internal interface IRowMapping<TResult>
{
    /// <summary>The input columns read, after checking they exist with a supported type; throws naming the column.</summary>
    DataViewSchema.Column[] ResolveInputs(DataViewSchema schema);

    /// <summary>A reader of the current row's input.</summary>
    Func<string> MakeInputReader(DataViewRow row);

    /// <summary>Rows mapped together by <see cref="MambaScoredDataView{TResult}"/>.</summary>
    int BatchSize { get; }

    /// <summary>The results for a batch of inputs, in order.</summary>
    TResult[] Map(IReadOnlyList<string> inputs);

    /// <summary>The input columns followed by the added ones.</summary>
    DataViewSchema MakeOutputSchema(DataViewSchema input);

    /// <summary>A getter for added column <paramref name="name"/> reading the current row's result from <paramref name="current"/>.</summary>
    Delegate MakeGetter(string name, Func<TResult> current);
}
