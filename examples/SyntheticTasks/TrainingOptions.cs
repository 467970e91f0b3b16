namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>How one model is trained and evaluated on a synthetic task.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 8;
    /// <summary>Sequence length of every training batch.</summary>
    public int TrainLength { get; init; } = 256;
    /// <summary>Adam's learning rate, held constant (the paper uses no schedule on these tasks).</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Seeds the weights (torch.manual_seed) and, separately, the training and evaluation data.</summary>
    public int Seed { get; init; } = 0;
    /// <summary>Sequences scored per evaluation length.</summary>
    public int EvalSequences { get; init; } = 256;
    /// <summary>Batch size for evaluation (long sequences may need a smaller one).</summary>
    public int EvalBatchSize { get; init; } = 64;
    /// <summary>Print the running loss every this many steps (0 = never).</summary>
    public int LogEvery { get; init; } = 100;
    public int Layers { get; init; } = 2;
    public int ModelDimension { get; init; } = 64;
    public int StateSize { get; init; } = 16;
    /// <summary>
    /// Time steps per chunk of the TorchSharp reference scan while training. Its backward pass copies a whole chunk
    /// for every time step, so small chunks train several times faster (measured: chunk 4 vs the default 64 at
    /// length 256). Ignored when faster kernels are the default.
    /// </summary>
    public int ReferenceScanChunk { get; init; } = 4;
}
