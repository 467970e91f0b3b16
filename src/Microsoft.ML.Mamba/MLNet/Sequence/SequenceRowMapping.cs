using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>The rows of a <see cref="MambaTransformer"/>: the text and extra columns formatted as one text, scored in batches, the task's columns added.</summary>
internal sealed class SequenceRowMapping(MambaTransformer transformer) : IRowMapping<float[]>
{
    public DataViewSchema.Column[] ResolveInputs(DataViewSchema schema) => transformer.TextReader.Resolve(schema);
    public Func<string> MakeInputReader(DataViewRow row) => transformer.TextReader.MakeFormatter(row);
    public int BatchSize => transformer.ScoringBatchSize;
    public float[][] Map(IReadOnlyList<string> inputs) => transformer.Scorer.Score(inputs, BatchSize);
    public DataViewSchema MakeOutputSchema(DataViewSchema input) => transformer.Outputs.MakeSchema(input);
    public Delegate MakeGetter(string name, Func<float[]> current) => transformer.Outputs.MakeGetter(name, current);
}
