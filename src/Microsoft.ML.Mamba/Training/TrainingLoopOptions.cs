namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// Everything <see cref="TrainingLoop"/> is told: the optimiser, the schedule, when to stop, when to validate, and
/// whom to tell. The callers (the ML.NET classifier, the language-model trainer, the synthetic-task harness) translate
/// their own public options into this one record.
/// </summary>
internal sealed record TrainingLoopOptions
{
    /// <summary>Learning rate of every step; <see cref="TrainingLoop.Schedule"/> may be replaced while training.</summary>
    public required LearningRateSchedule Schedule { get; init; }

    /// <summary>AdamW weight decay, never applied to A_log, D, norms and biases; 0 puts every parameter in one group (plain Adam).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Adam's first-moment decay.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>Adam's second-moment decay (the language model uses 0.95, as the Mamba paper's language-model training did).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>
    /// Multiplier of the schedule's learning rate for the named parameter (discriminative fine-tuning: a slower
    /// backbone than head); null = 1 for every parameter. Parameters of equal multiplier share an optimiser group.
    /// </summary>
    public Func<string, double>? LearningRateScale { get; init; }

    /// <summary>Gradients are rescaled when their global norm exceeds this; 0 = no clipping.</summary>
    public double MaxGradientNorm { get; init; }

    /// <summary>Training ends after this optimisation step (counted over the whole run, resumed steps included).</summary>
    public required int TotalSteps { get; init; }
    /// <summary>Steps already done by an earlier run (a resumed checkpoint); the first step taken is this + 1.</summary>
    public int StartStep { get; init; }
    /// <summary>Passes over the batch source at most; null = as many as <see cref="TotalSteps"/> need.</summary>
    public int? MaxEpochs { get; init; }
    /// <summary>Training stops after the first step that ends past this (checked after each step); the decay follows it.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>
    /// Steps between reads of the loss back from the device (each read waits for it); 1 reads every step. The
    /// non-finite check and <see cref="OnLoss"/> happen at each read, and always at the last step.
    /// </summary>
    public int LossReadEvery { get; init; } = 1;

    /// <summary>Validate every this many steps; 0 = after each epoch (when a validation function is given).</summary>
    public int ValidateEvery { get; init; }
    /// <summary>True when a larger validation metric is better (accuracy); false for a loss.</summary>
    public bool HigherIsBetter { get; init; }
    /// <summary>Validations without a better metric before training stops early; 0 = never.</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>Copy the weights at each better validation and put the best back when training ends.</summary>
    public bool RestoreBestWeights { get; init; }

    /// <summary>Checked before every step; cancellation throws <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; init; }
    /// <summary>A second cancellation source (ML.NET's own), checked with the token.</summary>
    public Func<bool>? IsCanceled { get; init; }

    /// <summary>Receives a report after every step whose loss was read, and at the end of each epoch.</summary>
    public IProgress<MambaTrainingProgress>? Progress { get; init; }
    /// <summary>Where the progress lines go; null = nowhere.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Write a progress line every this many steps (0 = only the epoch lines).</summary>
    public int LogEvery { get; init; }
    /// <summary>What a batch's examples are called in the progress lines (rows, blocks, sequences).</summary>
    public string ExampleUnit { get; init; } = "examples";

    /// <summary>Called with each step's loss, in step order, as the losses are read back.</summary>
    public Action<int, double>? OnLoss { get; init; }
    /// <summary>Called with the one-based epoch before its first step (gradual unfreezing). Parameters frozen when the
    /// loop was built stay out of the optimiser; ones frozen later and unfrozen here train again.</summary>
    public Action<int>? OnEpochStart { get; init; }
    /// <summary>Called after every step, after validation and the stop checks: logging, checkpoints.</summary>
    public Action<TrainingStep>? OnStep { get; init; }

    internal void Validate()
    {
        if (TotalSteps < 0) throw new ArgumentOutOfRangeException(nameof(TotalSteps), TotalSteps, "must not be negative.");
        if (StartStep < 0) throw new ArgumentOutOfRangeException(nameof(StartStep), StartStep, "must not be negative.");
        if (LossReadEvery < 1) throw new ArgumentOutOfRangeException(nameof(LossReadEvery), LossReadEvery, "must be at least 1.");
        if (ValidateEvery < 0) throw new ArgumentOutOfRangeException(nameof(ValidateEvery), ValidateEvery, "must not be negative.");
        if (EarlyStoppingPatience < 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must not be negative.");
        if (!(MaxGradientNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(MaxGradientNorm), MaxGradientNorm, "must not be negative.");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "must not be negative.");
    }
}
