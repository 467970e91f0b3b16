namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// Domain-adaptive pretraining before a classifier is fine-tuned: the backbone first goes on learning to predict the
/// next token of the training rows' own text (as the classifier reads it: the text columns and extra columns written
/// into one sequence), plus any <see cref="UnlabeledTexts"/>, and only then is the head trained on the labels. It
/// pays most when the rows' wording differs from what the backbone was pretrained on.
/// </summary>
public sealed class DomainAdaptivePretrainingOptions
{
    /// <summary>Optimizer steps of next-token training. Default 200.</summary>
    public int Steps { get; set; } = 200;

    /// <summary>Peak learning rate (linear warm-up, then cosine decay to a tenth of it). Default 5e-4.</summary>
    public double LearningRate { get; set; } = 5e-4;

    /// <summary>Share of <see cref="Steps"/> spent warming the learning rate up linearly from zero. Default 0.1.</summary>
    public double WarmupFraction { get; set; } = 0.1;

    /// <summary>Tokens per training window (rows are packed end to end, each followed by the end-of-text token). Default 128.</summary>
    public int BlockLength { get; set; } = 128;

    /// <summary>Windows per step. Default 16.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>AdamW weight decay (never on A_log, D, norms and biases). Default 0.01.</summary>
    public double WeightDecay { get; set; } = 0.01;

    /// <summary>Train on the training rows' text. Default true; false uses <see cref="UnlabeledTexts"/> only.</summary>
    public bool IncludeTrainingRows { get; set; } = true;

    /// <summary>
    /// More in-domain text without labels (read once, lazily, e.g. <see cref="PretrainingCorpus.ReadLines"/> or
    /// <see cref="PretrainingCorpus.FromDataView"/>); null = none.
    /// </summary>
    public IEnumerable<string>? UnlabeledTexts { get; set; }

    /// <summary>Checks the settings and throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, string why) { if (!ok) throw new ArgumentException($"DomainAdaptivePretraining.{name} {why}", name); }
        Check(Steps >= 1, nameof(Steps), "must be at least 1.");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), "must be a positive number.");
        Check(WarmupFraction >= 0 && WarmupFraction < 1, nameof(WarmupFraction), "must be in [0, 1).");
        Check(BlockLength >= 1, nameof(BlockLength), "must be at least 1.");
        Check(BatchSize >= 1, nameof(BatchSize), "must be at least 1.");
        Check(WeightDecay >= 0, nameof(WeightDecay), "must not be negative.");
        Check(IncludeTrainingRows || UnlabeledTexts is not null, nameof(UnlabeledTexts), "must be given when IncludeTrainingRows is false: there is no text to adapt to.");
    }

    internal DomainAdaptivePretrainingOptions Clone() => (DomainAdaptivePretrainingOptions)MemberwiseClone();
}
