namespace Microsoft.ML.Mamba.Training;

/// <summary>A snapshot of training, reported after each step and at the end of each epoch.</summary>
/// <param name="Epoch">One-based epoch.</param>
/// <param name="NumberOfEpochs">Epochs planned.</param>
/// <param name="Step">One-based optimisation step over the whole run.</param>
/// <param name="TotalSteps">Steps planned over the whole run.</param>
/// <param name="Loss">Mean training loss of the epoch so far.</param>
/// <param name="ExamplesPerSecond">Training throughput so far.</param>
/// <param name="Remaining">Estimated time left.</param>
/// <param name="ValidationLoss">Validation loss, on end-of-epoch reports when a validation set is given.</param>
/// <param name="IsEndOfEpoch">True for the report made after an epoch's last step.</param>
public sealed record MambaTrainingProgress(
    int Epoch, int NumberOfEpochs, int Step, int TotalSteps, double Loss, double ExamplesPerSecond,
    TimeSpan Remaining, double? ValidationLoss, bool IsEndOfEpoch);
