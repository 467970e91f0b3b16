using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Everything a Mamba estimator can be told. The simple catalog overloads fill in the column names and a few
/// knobs; the rest keep these defaults, which suit a small model trained from scratch on CPU.
/// </summary>
public class MambaTrainerOptions
{
    /// <summary>The label column: a key (multiclass), a boolean (binary) or a single (regression).</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>Text columns, written into the sequence in this order.</summary>
    public string[] TextColumnNames { get; set; } = ["Text"];

    /// <summary>
    /// Other scalar columns (numbers, booleans, categorical text) written into the sequence as <c>name: value</c>
    /// fields after the text columns. See <see cref="Text.RowTextFormatter"/> for how values are written.
    /// </summary>
    public string[] ExtraColumnNames { get; set; } = [];

    /// <summary>Name of the output score column.</summary>
    public string ScoreColumnName { get; set; } = "Score";

    /// <summary>Name of the output predicted-label column (classification only).</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

    /// <summary>Network size when training from scratch.</summary>
    public MambaModelSize ModelSize { get; set; } = MambaModelSize.Tiny;

    /// <summary>
    /// The mixer family of a network trained from scratch with <see cref="ModelSize"/>: Mamba-1 (default) or Mamba-2.
    /// A <see cref="NetworkConfig"/> or a <see cref="PretrainedModelDirectory"/> names its own; the saved model
    /// records it in its config.json.
    /// </summary>
    public MambaArchitecture Architecture { get; set; } = MambaArchitecture.Mamba1;

    /// <summary>
    /// An explicit network shape for training from scratch, used instead of <see cref="ModelSize"/>. Its vocabulary
    /// size and special tokens are replaced by the tokenizer's.
    /// </summary>
    public MambaConfig? NetworkConfig { get; set; }

    /// <summary>
    /// A Hugging Face Mamba or Mamba-2 checkpoint folder (config.json + model.safetensors) to fine-tune, or the name of a model
    /// that comes with the project (<see cref="MambaPretrainedModels.EnglishBase"/>); null trains from scratch.
    /// </summary>
    public string? PretrainedModelDirectory { get; set; }

    /// <summary>Keep the token embeddings fixed while fine-tuning.</summary>
    public bool FreezeEmbeddings { get; set; }

    /// <summary>Keep the lowest this-many Mamba layers fixed while fine-tuning.</summary>
    public int FrozenLayerCount { get; set; }

    /// <summary>
    /// Multiplier of <see cref="LearningRate"/> for the backbone (everything but the new head) when fine-tuning: a
    /// pretrained backbone wants gentler steps than a head that starts from nothing. 1 (default) trains all at one rate.
    /// </summary>
    public double BackboneLearningRateFactor { get; set; } = 1.0;

    /// <summary>
    /// Layer-wise learning-rate decay: each layer below the top trains this many times slower than the one above it
    /// (the embeddings one step below the lowest layer), on top of <see cref="BackboneLearningRateFactor"/>. Lower layers
    /// hold the most general features. 1 (default) = off.
    /// </summary>
    public double LayerLearningRateDecay { get; set; } = 1.0;

    /// <summary>
    /// Gradual unfreezing (as in ULMFiT): the first epoch trains the head (and the final norm) only, and each later epoch
    /// one more layer from the top down, the embeddings last; parameters frozen by <see cref="FreezeEmbeddings"/> or
    /// <see cref="FrozenLayerCount"/> stay frozen. Default false: everything trains from the first step.
    /// </summary>
    public bool GradualUnfreezing { get; set; }

    /// <summary>Dropout on the pooled vector before the head while training (a regulariser when fine-tuning on few rows); 0 (default) = none.</summary>
    public double HeadDropout { get; set; }

    /// <summary>
    /// Continue pretraining the backbone on the training rows' own text (and on optional unlabeled text) before the
    /// head is trained: see <see cref="DomainAdaptivePretrainingOptions"/>. Null (default) = no such step.
    /// </summary>
    public DomainAdaptivePretrainingOptions? DomainAdaptivePretraining { get; set; }

    /// <summary>
    /// How rows become token ids. Null (default): when fine-tuning, the tokenizer the checkpoint folder records
    /// (a folder saved by the pretraining pipeline) or holds (tokenizer.json); otherwise <see cref="MambaTokenizerKind.Bytes"/>.
    /// </summary>
    public MambaTokenizerKind? Tokenizer { get; set; }

    /// <summary>tokenizer.json (or its folder) for <see cref="MambaTokenizerKind.HuggingFace"/>; defaults to the checkpoint folder.</summary>
    public string? TokenizerPath { get; set; }

    /// <summary>Longest token sequence fed to the network; longer rows keep their first tokens (the rest is dropped).</summary>
    public int MaxSequenceLength { get; set; } = 256;

    /// <summary>How a sequence becomes one vector for the classification head.</summary>
    public SequencePooling Pooling { get; set; } = SequencePooling.LastToken;

    /// <summary>Rows per optimisation step (and per forward pass when scoring).</summary>
    public int BatchSize { get; set; } = 32;

    /// <summary>Passes over the training set.</summary>
    public int NumberOfEpochs { get; set; } = 3;

    /// <summary>Peak learning rate of AdamW, reached after the warm-up.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>AdamW weight decay; never applied to A_log, D, norms and biases.</summary>
    public double WeightDecay { get; set; } = 0.01;

    /// <summary>Share of all steps spent warming the learning rate up linearly from zero.</summary>
    public double WarmupFraction { get; set; } = 0.1;

    /// <summary>How the learning rate falls after the warm-up.</summary>
    public LearningRateDecay Decay { get; set; } = LearningRateDecay.Cosine;

    /// <summary>Gradients are rescaled when their global norm exceeds this; 0 turns clipping off.</summary>
    public double MaxGradientNorm { get; set; } = 1.0;

    /// <summary>Optional held-out rows (same columns) scored after each epoch; enables early stopping.</summary>
    public IDataView? ValidationSet { get; set; }

    /// <summary>
    /// Without a <see cref="ValidationSet"/>: the share of the training rows (drawn at random with <see cref="Seed"/>)
    /// held out as the validation set, for early stopping and <see cref="CalibrateProbabilities"/>; those rows are not
    /// trained on. 0 (default) holds out nothing. At most 0.5; at least one row is held out and one kept.
    /// </summary>
    public double ValidationFraction { get; set; }

    /// <summary>
    /// Classification with a <see cref="ValidationSet"/>: after training, fit one temperature on the validation rows and
    /// divide every logit by it (temperature scaling, Guo et al. 2017), so that probabilities (and log-loss) are
    /// calibrated. Predicted labels, rankings and AUC do not change. Default true; no effect without a validation set
    /// or for regression.
    /// </summary>
    public bool CalibrateProbabilities { get; set; } = true;

    /// <summary>Epochs without a better validation loss before training stops; 0 never stops early. The best epoch's weights are kept.</summary>
    public int EarlyStoppingPatience { get; set; } = 2;

    /// <summary>
    /// Seed for weight initialisation and shuffling; null draws it from the MLContext's seed. The weights come from
    /// TorchSharp's process-wide generator, seeded and drawn under one library-wide lock, so
    /// trainers fitting at the same time stay reproducible; other code drawing from that generator meanwhile does not wait.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>Write a progress line to MLContext.Log every this-many steps.</summary>
    public int LogEveryNumberOfSteps { get; set; } = 20;

    /// <summary>
    /// Stops training before the next batch (throwing <see cref="OperationCanceledException"/>). ML.NET's own
    /// cancellation (the internal CancelExecution that AutoML uses on its MLContext) is honoured as well;
    /// ML.NET 5.0 does not make <c>MLContext.CancelExecution</c> public, so applications use this token.
    /// </summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Optional callback after every step and epoch, for progress bars.</summary>
    public IProgress<MambaTrainingProgress>? Progress { get; set; }

    /// <summary>Checks the settings and throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, string why) { if (!ok) throw new ArgumentException($"{name} {why}", name); }
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name a column.");
        Check(TextColumnNames is { Length: > 0 } || ExtraColumnNames is { Length: > 0 }, nameof(TextColumnNames), "or ExtraColumnNames must name at least one input column.");
        Check(MaxSequenceLength >= 1, nameof(MaxSequenceLength), "must be at least 1.");
        Check(Enum.IsDefined(Architecture), nameof(Architecture), $"must be {nameof(MambaArchitecture.Mamba1)} or {nameof(MambaArchitecture.Mamba2)}, got {Architecture}.");
        Check(BatchSize >= 1, nameof(BatchSize), "must be at least 1.");
        Check(NumberOfEpochs >= 1, nameof(NumberOfEpochs), "must be at least 1.");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), "must be a positive number.");
        Check(WeightDecay >= 0, nameof(WeightDecay), "must not be negative.");
        Check(WarmupFraction >= 0 && WarmupFraction < 1, nameof(WarmupFraction), "must be in [0, 1).");
        Check(MaxGradientNorm >= 0, nameof(MaxGradientNorm), "must not be negative.");
        Check(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), "must not be negative.");
        Check(ValidationFraction >= 0 && ValidationFraction <= 0.5, nameof(ValidationFraction), $"must be in [0, 0.5], got {ValidationFraction}.");
        Check(FrozenLayerCount >= 0, nameof(FrozenLayerCount), "must not be negative.");
        Check(BackboneLearningRateFactor > 0 && double.IsFinite(BackboneLearningRateFactor), nameof(BackboneLearningRateFactor), "must be a positive number (freeze parameters with FreezeEmbeddings or FrozenLayerCount).");
        Check(LayerLearningRateDecay > 0 && LayerLearningRateDecay <= 1, nameof(LayerLearningRateDecay), "must be in (0, 1].");
        Check(HeadDropout >= 0 && HeadDropout < 1, nameof(HeadDropout), "must be in [0, 1).");
        DomainAdaptivePretraining?.Validate();
        Check(Tokenizer != MambaTokenizerKind.HuggingFace || TokenizerPath is not null || PretrainedModelDirectory is not null,
            nameof(TokenizerPath), "is needed for a Hugging Face tokenizer when no checkpoint folder is given.");
    }

    internal MambaTrainerOptions Clone()
    {
        var copy = (MambaTrainerOptions)MemberwiseClone();
        copy.DomainAdaptivePretraining = DomainAdaptivePretraining?.Clone();
        return copy;
    }
}
