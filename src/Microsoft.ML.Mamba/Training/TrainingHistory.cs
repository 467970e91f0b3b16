namespace Microsoft.ML.Mamba.Training;

/// <summary>Losses recorded while training, for loss curves and reports.</summary>
public sealed class TrainingHistory
{
    internal TrainingHistory() { }

    /// <summary>Training loss of every optimisation step, in order.</summary>
    public List<double> StepLosses { get; } = [];
    /// <summary>Mean training loss of each epoch.</summary>
    public List<double> EpochLosses { get; } = [];
    /// <summary>Validation loss after each epoch (empty without a validation set).</summary>
    public List<double> ValidationLosses { get; } = [];
    /// <summary>One-based epoch whose weights were kept (the best validation loss, or the last epoch).</summary>
    public int BestEpoch { get; internal set; }
    /// <summary>True when early stopping ended training before the planned epochs.</summary>
    public bool StoppedEarly { get; internal set; }
    /// <summary>Wall-clock training time.</summary>
    public TimeSpan Elapsed { get; internal set; }
}
