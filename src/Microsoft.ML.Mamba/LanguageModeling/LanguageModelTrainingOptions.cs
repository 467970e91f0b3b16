namespace Microsoft.ML.Mamba.LanguageModeling;

/// <summary>Settings for <see cref="LanguageModelTrainer"/>.</summary>
public sealed class LanguageModelTrainingOptions
{
    /// <summary>Tokens per training block (the context the model learns over). Default 128.</summary>
    public int BlockLength { get; set; } = 128;

    /// <summary>Blocks per optimizer step. Default 16.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>Passes over the training blocks (ignored when <see cref="MaxSteps"/> is set). Default 1.</summary>
    public int NumberOfEpochs { get; set; } = 1;

    /// <summary>Stops after this many optimizer steps when &gt; 0, however many epochs that is.</summary>
    public int MaxSteps { get; set; }

    /// <summary>Stops once training has run this long (checked between steps); the learning-rate decay follows it. Null = no limit.</summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Peak AdamW learning rate, reached after warm-up and decayed to a tenth by a cosine. Default 2e-3.</summary>
    public double LearningRate { get; set; } = 2e-3;

    /// <summary>
    /// Share of all steps spent warming the learning rate up linearly from zero, as in the classifiers' options.
    /// Default 0.1.
    /// </summary>
    public double WarmupFraction { get; set; } = 0.1;

    /// <summary>AdamW weight decay, not applied to A_log, D, norms and biases. Default 0.1.</summary>
    public double WeightDecay { get; set; } = 0.1;

    /// <summary>Gradient norm clip; 0 = off. Default 1.</summary>
    public double MaxGradientNorm { get; set; } = 1.0;

    /// <summary>Shuffles the blocks. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>Receives (step, total steps, recent training loss) every few steps.</summary>
    public IProgress<LanguageModelTrainingProgress>? Progress { get; set; }

    /// <summary>Checked before every step.</summary>
    public CancellationToken CancellationToken { get; set; }

    internal void Validate()
    {
        if (BlockLength < 1) throw new ArgumentOutOfRangeException(nameof(BlockLength), BlockLength, "must be ≥ 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "must be ≥ 1");
        if (NumberOfEpochs < 1 && MaxSteps <= 0) throw new ArgumentOutOfRangeException(nameof(NumberOfEpochs), NumberOfEpochs, "must be ≥ 1");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be > 0");
        if (!(WarmupFraction >= 0 && WarmupFraction < 1)) throw new ArgumentOutOfRangeException(nameof(WarmupFraction), WarmupFraction, "must be in [0, 1)");
    }
}
