using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// A Mamba backbone with a linear head over one pooled vector per sequence: classification
/// (numLabels logits) or regression (numLabels = 1).
/// </summary>
public sealed class MambaForSequenceClassification : nn.Module<Tensor, Tensor?, Tensor>
{
    /// <summary>The config.json key that records <see cref="NumLabels"/> in a saved classifier.</summary>
    internal const string NumLabelsKey = "num_labels";
    /// <summary>The config.json key that records <see cref="Pooling"/> in a saved classifier.</summary>
    internal const string PoolingKey = "pooling";

    /// <summary>The backbone (Hugging Face's <c>backbone</c>).</summary>
    public MambaModel backbone;
    /// <summary>The head: hidden_size → <see cref="NumLabels"/> (Hugging Face's <c>score</c>).</summary>
    public Linear score;

    /// <summary>The backbone's hyper-parameters.</summary>
    public MambaConfig Config { get; }
    /// <summary>The backbone: embeddings, blocks and final norm.</summary>
    public MambaModel Backbone => backbone;
    /// <summary>Outputs of the head: classes, or 1 for regression.</summary>
    public int NumLabels { get; }
    /// <summary>How the per-token hidden states become one vector.</summary>
    public SequencePooling Pooling { get; }

    /// <summary>
    /// Share of the pooled vector's features zeroed (and the rest scaled up) before the head in training mode, a
    /// regulariser for fine-tuning; 0 (default) = none. Not saved: it plays no part in scoring.
    /// </summary>
    public double HeadDropout
    {
        get => _headDropout;
        set => _headDropout = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(HeadDropout), value, "must be in [0, 1).");
    }
    private double _headDropout;

    /// <summary>A new classifier with freshly initialised weights.</summary>
    /// <param name="config">The backbone's hyper-parameters.</param>
    /// <param name="numLabels">Outputs of the head: classes, or 1 for regression.</param>
    /// <param name="pooling">How the per-token hidden states become one vector.</param>
    /// <param name="device">Where the weights go.</param>
    public MambaForSequenceClassification(MambaConfig config, int numLabels,
        SequencePooling pooling = SequencePooling.LastToken, Device? device = null)
        : base(nameof(MambaForSequenceClassification))
    {
        if (numLabels <= 0) throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "must be positive");
        Config = config;
        NumLabels = numLabels;
        Pooling = pooling;
        backbone = new MambaModel(config, device);
        score = nn.Linear(config.HiddenSize, numLabels, hasBias: true, device: device);
        using (no_grad())
        {
            nn.init.normal_(score.weight!, 0, config.InitializerRange);
            score.bias!.zero_();
        }
        RegisterComponents();
    }

    /// <param name="inputIds">(batch, length) int64.</param>
    /// <param name="attentionMask">(batch, length) 1/0, left or right padding; null = no padding.</param>
    /// <returns>(batch, numLabels) fp32.</returns>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var hidden = backbone.forward(inputIds, attentionMask);       // (B, L, H)
        var pooled = Pool(hidden, attentionMask);
        if (training && _headDropout > 0) pooled = nn.functional.dropout(pooled, _headDropout, training: true);
        return score.forward(pooled.to_type(score.weight!.dtype)).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    private Tensor Pool(Tensor hidden, Tensor? mask)
    {
        long batch = hidden.shape[0], length = hidden.shape[1];
        if (mask is null)
            return Pooling == SequencePooling.Mean ? hidden.mean(new long[] { 1 }) : hidden.select(1, length - 1);
        var m = mask.to_type(hidden.dtype);
        if (Pooling == SequencePooling.Mean)
            return (hidden * m.unsqueeze(-1)).sum(1) / TorchScalars.ClampMin(m.sum(1, keepdim: true), 1);
        // Index of the last real token, whichever side the padding is on.
        var positions = arange(length, device: hidden.device).unsqueeze(0).expand(batch, length);
        var last = (positions * mask.to_type(ScalarType.Int64)).argmax(1);
        return hidden[arange(batch, device: hidden.device), last];
    }

    /// <summary>
    /// Loads the backbone from a Hugging Face Mamba checkpoint directory. The head is loaded too when the
    /// directory holds a saved classifier (score.weight), otherwise it starts fresh.
    /// </summary>
    /// <remarks>The weight files' headers are checked against the config before the model is built.</remarks>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">config.json or the weights are missing.</exception>
    /// <exception cref="InvalidDataException">config.json is not a valid Mamba config.</exception>
    /// <exception cref="MambaCheckpointException">The weights are damaged or do not match the config and <paramref name="numLabels"/>.</exception>
    public static MambaForSequenceClassification FromPretrained(string directory, int numLabels,
        SequencePooling pooling = SequencePooling.LastToken, Device? device = null) =>
        FromPretrained(CheckpointFiles.FromDirectory(directory), numLabels, pooling, device);

    /// <summary>Loads a checkpoint held in a directory or in memory; see <see cref="FromPretrained(string, int, SequencePooling, Device?)"/>.</summary>
    internal static MambaForSequenceClassification FromPretrained(CheckpointFiles files, int numLabels,
        SequencePooling pooling = SequencePooling.LastToken, Device? device = null)
    {
        if (numLabels <= 0) throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "must be positive");
        static bool Optional(string name) => name.StartsWith("score.", StringComparison.Ordinal);
        static bool Ignore(string name) => name == HuggingFaceCheckpoint.LmHeadName;
        return PretrainedLoader.Load(files, config => MambaParameterLayout.SequenceClassification(config, numLabels),
            config => new MambaForSequenceClassification(config, numLabels, pooling), device, Optional, Ignore);
    }

    /// <summary>Writes config.json (with num_labels and pooling) and model.safetensors.</summary>
    public void SavePretrained(string directory)
    {
        var config = Config.Clone();
        config.Extra ??= new();
        config.Extra[NumLabelsKey] = System.Text.Json.JsonSerializer.SerializeToElement(NumLabels);
        config.Extra[PoolingKey] = System.Text.Json.JsonSerializer.SerializeToElement(Pooling.ToString());
        PretrainedLoader.Save(this, config, directory);
    }
}
