namespace Microsoft.ML.Mamba.Training;

/// <summary>What a <see cref="TrainingLoop.Run"/> did.</summary>
/// <param name="Steps">Steps done, counting <see cref="TrainingLoopOptions.StartStep"/>.</param>
/// <param name="Epochs">Passes over the batch source begun.</param>
/// <param name="StopReason">Why training ended.</param>
/// <param name="EpochLosses">Mean training loss of each completed epoch, weighted by examples.</param>
/// <param name="Validations">Every validation metric, in order.</param>
/// <param name="BestEpoch">Epoch of the best validation (whose weights are kept with best-weights restore), or the last epoch without validation.</param>
/// <param name="BestStep">Step of the best validation, or null without validation.</param>
/// <param name="Elapsed">Wall-clock time of the run.</param>
internal sealed record TrainingOutcome(int Steps, int Epochs, TrainingStopReason StopReason, IReadOnlyList<double> EpochLosses,
    IReadOnlyList<double> Validations, int BestEpoch, int? BestStep, TimeSpan Elapsed);
