namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>A synthetic sequence task: a seeded generator of (input, target) batches over a small vocabulary.</summary>
public interface ISyntheticTask
{
    /// <summary>Short name for logs and result tables.</summary>
    string Name { get; }

    /// <summary>Number of distinct token ids, special tokens included; the model's vocabulary size.</summary>
    int VocabSize { get; }

    /// <summary>
    /// Draws <paramref name="batchSize"/> fresh sequences of <paramref name="length"/> tokens using only
    /// <paramref name="random"/>, so the same seed gives the same batches.
    /// </summary>
    SyntheticBatch Sample(Random random, int batchSize, int length);
}
