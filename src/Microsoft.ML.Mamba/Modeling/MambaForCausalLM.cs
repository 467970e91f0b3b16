using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>A Mamba language model: the backbone plus a vocabulary projection (tied to the embeddings unless the config says not).</summary>
public sealed class MambaForCausalLM : nn.Module<Tensor, Tensor?, Tensor>
{
    /// <summary>The backbone (Hugging Face's <c>backbone</c>).</summary>
    public MambaModel backbone;
    /// <summary>The vocabulary projection; null when it is tied to the embeddings (<see cref="MambaConfig.TieWordEmbeddings"/>).</summary>
    public Linear? lm_head;

    /// <summary>The hyper-parameters the model was built from.</summary>
    public MambaConfig Config { get; }
    /// <summary>The backbone: embeddings, blocks and final norm.</summary>
    public MambaModel Backbone => backbone;

    /// <summary>A language model with the mixer family <paramref name="config"/> names (<see cref="MambaConfig.Architecture"/>):
    /// a <see cref="MambaMixer"/> or a <see cref="Mamba2Mixer"/> in every layer.</summary>
    public MambaForCausalLM(MambaConfig config, Device? device = null) : this(config, _ => MambaModel.NewMixer(config, device), device)
    {
    }

    /// <summary>A language model whose backbone has the mixer <paramref name="createMixer"/> makes for each layer
    /// (see <see cref="MambaModel(MambaConfig, Func{int, IMixer}, Device?)"/>).</summary>
    public MambaForCausalLM(MambaConfig config, Func<int, IMixer> createMixer, Device? device = null) : base(nameof(MambaForCausalLM))
    {
        Config = config;
        backbone = new MambaModel(config, createMixer, device);
        if (!config.TieWordEmbeddings)
            lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: device);
        RegisterComponents();
    }

    /// <summary>The matrix that maps hidden states to logits.</summary>
    public Tensor OutputEmbeddings => lm_head?.weight ?? backbone.embeddings.weight!;

    /// <returns>Logits (batch, length, vocab_size) in fp32.</returns>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask) => Logits(backbone.forward(inputIds, attentionMask));

    /// <summary>Runs a prompt, filling <paramref name="cache"/>; returns logits (batch, length, vocab).</summary>
    public Tensor Prefill(Tensor inputIds, Tensor? attentionMask, MambaCache cache) =>
        Logits(backbone.Prefill(inputIds, attentionMask, cache));

    /// <summary>Runs the next chunk after what <paramref name="cache"/> holds (<see cref="MambaModel.Continue"/>); returns logits (batch, length, vocab).</summary>
    public Tensor Continue(Tensor inputIds, MambaCache cache) => Logits(backbone.Continue(inputIds, cache));

    /// <summary>One decoding step: token ids (batch) → next-token logits (batch, vocab), fp32. Reads the projections in
    /// the format <see cref="PrepareDecodeWeights"/> chose.</summary>
    public Tensor Step(Tensor tokenIds, MambaCache cache)
    {
        if (_decodeWeights?.LmHead is not { } head) return Logits(backbone.Step(tokenIds, cache));
        using var scope = NewDisposeScope();
        var hidden = backbone.Step(tokenIds, cache);
        // A model moved to CUDA or cast after packing decodes on its own weights (the mixers check the same).
        bool packed = hidden.device_type == DeviceType.CPU && hidden.dtype == ScalarType.Float32;
        return (packed ? head.Apply(hidden) : Logits(hidden)).MoveToOuterDisposeScope();
    }

    private PackedDecodeWeights? _decodeWeights;

    /// <summary>How <see cref="Step"/> stores the large projections; <see cref="DecodeWeights.Float32"/> (the model's own
    /// weights) unless <see cref="PrepareDecodeWeights"/> chose another.</summary>
    public DecodeWeights DecodeWeights => _decodeWeights?.Format ?? DecodeWeights.Float32;

    /// <summary>
    /// Makes <see cref="Step"/> (token-by-token decoding, as generation runs it) read the large projections (Mamba-1:
    /// in_proj, x_proj, out_proj; Mamba-2: in_proj, out_proj) and the vocabulary projection from copies in
    /// <paramref name="weights"/>: on 2 CPU cores int8 weights decode three to four times as fast as fp32 at batch 1
    /// (docs/results/2026-12-07-cpu-decode.md). Prompts (<see cref="Prefill"/>),
    /// <see cref="forward"/> and training keep the fp32 weights. The copies are a snapshot: call again after changing the
    /// weights; <see cref="DecodeWeights.Float32"/> releases them. Not while a generation with this model runs.
    /// </summary>
    /// <remarks>
    /// Packed weights are a CPU feature of fp32 models: on CUDA, for a model with other parameter dtypes, or without the
    /// native kernels, the model keeps its own weights and a warning (<see cref="MambaLog.Message"/>) says why. The packed
    /// step always runs the native CPU kernels, whatever <see cref="MambaModel.Kernels"/> names.
    /// </remarks>
    /// <param name="weights">The storage of the per-token projections.</param>
    /// <returns>The format now in use (<see cref="DecodeWeights"/>).</returns>
    public DecodeWeights PrepareDecodeWeights(DecodeWeights weights)
    {
        if (!Enum.IsDefined(weights)) throw new ArgumentOutOfRangeException(nameof(weights), weights, "not a DecodeWeights value");
        _decodeWeights?.Dispose();
        _decodeWeights = weights == DecodeWeights.Float32 ? null : PackedDecodeWeights.Prepare(this, weights);
        return DecodeWeights;
    }

    /// <summary>Weight bytes one <see cref="Step"/> reads through packed projections (0 without them).</summary>
    internal long PackedDecodeWeightBytes => _decodeWeights?.WeightBytes ?? 0;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _decodeWeights?.Dispose();
            _decodeWeights = null;
        }
        base.Dispose(disposing);
    }

    private Tensor Logits(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var weight = OutputEmbeddings;
        return nn.functional.linear(hidden.to_type(weight.dtype), weight).to_type(ScalarType.Float32)
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loads a Hugging Face Mamba or Mamba-2 checkpoint directory (MambaForCausalLM or Mamba2ForCausalLM: config.json +
    /// model.safetensors, or the sharded model.safetensors.index.json form), also in the original mamba_ssm naming; the
    /// config's <c>model_type</c> (or mamba_ssm's <c>ssm_cfg.layer</c>) chooses the mixer.
    /// </summary>
    /// <remarks>
    /// The weight files' headers are checked against the config before the model is built, so a damaged or hostile
    /// checkpoint fails without allocating the model it describes.
    /// </remarks>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">config.json or the weights are missing.</exception>
    /// <exception cref="InvalidDataException">config.json is not a valid Mamba config.</exception>
    /// <exception cref="MambaCheckpointException">The weights are damaged or do not match the config.</exception>
    public static MambaForCausalLM FromPretrained(string directory, Device? device = null) =>
        FromPretrained(CheckpointFiles.FromDirectory(directory), device);

    /// <summary>Loads a checkpoint held in a directory or in memory; see <see cref="FromPretrained(string, Device?)"/>.</summary>
    internal static MambaForCausalLM FromPretrained(CheckpointFiles files, Device? device = null)
    {
        return PretrainedLoader.Load(files, MambaParameterLayout.CausalLM, config => new MambaForCausalLM(config), device,
            optional: _ => false);
    }

    /// <summary>
    /// Casts the model to <paramref name="dtype"/> for mixed-precision training, leaving the mixers' A_log and D (and
    /// Mamba-2's dt_bias and gated-norm weight) in fp32 as mamba_ssm does: they feed exp(), softplus and the skip term,
    /// where bf16 would lose the decay's precision. Another mixer family is cast whole.
    /// </summary>
    /// <param name="dtype">The parameters' dtype, e.g. bf16.</param>
    public void ToMixedPrecision(ScalarType dtype)
    {
        backbone.embeddings.to(dtype);
        backbone.norm_f.to(dtype);
        lm_head?.to(dtype);
        foreach (var layer in backbone.layers)
        {
            layer.norm.to(dtype);
            if (layer.mixer is MambaMixer m)
            {
                m.in_proj.to(dtype);
                m.conv1d.to(dtype);
                m.x_proj?.to(dtype);
                m.dt_proj.to(dtype);
                m.out_proj.to(dtype);
            }
            else if (layer.mixer is Mamba2Mixer m2)
            {
                m2.in_proj.to(dtype);
                m2.conv1d.to(dtype);
                m2.out_proj.to(dtype);
            }
            else if (layer.mixer is nn.Module other) other.to(dtype);
        }
    }

    /// <summary>Writes config.json and model.safetensors in the Hugging Face layout.</summary>
    public void SavePretrained(string directory) => PretrainedLoader.Save(this, Config, directory);
}
