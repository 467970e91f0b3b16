using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>The Mamba backbone: token embeddings, a stack of <see cref="MambaBlock"/>s and a final RMSNorm.</summary>
public sealed class MambaModel : nn.Module<Tensor, Tensor?, Tensor>
{
    /// <summary>Token embeddings, (vocab_size, hidden_size).</summary>
    public Embedding embeddings;
    /// <summary>The blocks, in order.</summary>
    public ModuleList<MambaBlock> layers;
    /// <summary>The final norm.</summary>
    public RMSNorm norm_f;

    /// <summary>The hyper-parameters the backbone was built from.</summary>
    public MambaConfig Config { get; }

    /// <summary>A backbone with the mixer family <paramref name="config"/> names (<see cref="MambaConfig.Architecture"/>):
    /// a <see cref="MambaMixer"/> or a <see cref="Mamba2Mixer"/> in every layer.</summary>
    public MambaModel(MambaConfig config, Device? device = null) : this(config, _ => NewMixer(config, device), device)
    {
    }

    /// <summary>A new mixer of the family <paramref name="config"/> names.</summary>
    internal static IMixer NewMixer(MambaConfig config, Device? device)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Architecture switch
        {
            MambaArchitecture.Mamba2 => new Mamba2Mixer(config, device),
            _ => new MambaMixer(config, device),
        };
    }

    /// <summary>
    /// A backbone with the mixer <paramref name="createMixer"/> makes for each layer (mamba_ssm's <c>create_block</c>
    /// with its <c>mixer_cls</c>); <paramref name="config"/> gives the vocabulary, widths, depth and norm.
    /// </summary>
    /// <param name="config">Vocabulary, hidden size, number of layers, norm epsilon, residual dtype, initialisation.</param>
    /// <param name="createMixer">Layer index → a new mixer (a TorchSharp module implementing <see cref="IMixer"/>).</param>
    /// <param name="device">Where the embeddings and norms go (the mixers are placed by <paramref name="createMixer"/>).</param>
    public MambaModel(MambaConfig config, Func<int, IMixer> createMixer, Device? device = null) : base(nameof(MambaModel))
    {
        ArgumentNullException.ThrowIfNull(createMixer);
        config.Validate();
        Config = config;
        embeddings = nn.Embedding(config.VocabSize, config.HiddenSize, device: device);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers)
            .Select(i => new MambaBlock(config.HiddenSize, config.LayerNormEpsilon, config.ResidualInFp32, createMixer(i), device))
            .ToArray());
        norm_f = new RMSNorm(config.HiddenSize, config.LayerNormEpsilon, device);
        InitialiseWeights();
        RegisterComponents();
    }

    /// <summary>
    /// Kernels for every mixer and norm (null = each one's default at call time, <see cref="MambaKernels.Default"/> for
    /// Mamba-1). Setting kernels that lack a mixer's family operations throws <see cref="ArgumentException"/>.
    /// </summary>
    public ISharedKernels? Kernels
    {
        get => layers.Count > 0 ? layers[0].mixer.Kernels : norm_f.Kernels;
        set
        {
            foreach (var layer in layers) { layer.mixer.Kernels = value; layer.norm.Kernels = value; }
            norm_f.Kernels = value;
        }
    }

    // mamba_ssm's _init_weights: embeddings ~ N(0, initializer_range), then what each mixer initialises for this
    // depth (for Mamba-1: linear biases zero except Δ's, out_proj scaled by 1/sqrt(n_layer)). Same order of random
    // draws as ever, so a seed gives the same model.
    private void InitialiseWeights()
    {
        using var _ = no_grad();
        nn.init.normal_(embeddings.weight!, 0, Config.InitializerRange);
        foreach (var layer in layers) layer.mixer.InitialiseWeights(Config.NumHiddenLayers);
    }

    /// <param name="inputIds">(batch, length) int64 token ids.</param>
    /// <param name="attentionMask">(batch, length), 1 for tokens and 0 for padding, or null.</param>
    /// <returns>Hidden states (batch, length, hidden_size) after the final norm.</returns>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var hidden = embeddings.forward(inputIds);
        foreach (var layer in layers) hidden = layer.forward(hidden, attentionMask);
        return norm_f.forward(hidden.to_type(norm_f.weight.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>A fresh decoding cache for <paramref name="batch"/> sequences.</summary>
    public MambaCache NewCache(long batch, Device? device = null)
    {
        device ??= embeddings.weight!.device;
        return new MambaCache(layers.Select(l => l.mixer.NewState(batch, device)).ToArray());
    }

    /// <summary>Runs a prompt (left padding allowed) and fills <paramref name="cache"/>; returns (batch, length, hidden).</summary>
    public Tensor Prefill(Tensor inputIds, Tensor? attentionMask, MambaCache cache) =>
        Chunk(inputIds, cache, (layer, hidden, state) => layer.Prefill(hidden, attentionMask, state));

    /// <summary>
    /// Runs the next chunk of the sequences in <paramref name="cache"/> (no padding) and updates the cache: a long
    /// prompt prefilled in pieces, or training that carries each batch's final state into the next. Returns (batch,
    /// length, hidden); gradients do not flow into the cached state.
    /// </summary>
    public Tensor Continue(Tensor inputIds, MambaCache cache) =>
        Chunk(inputIds, cache, (layer, hidden, state) => layer.Continue(hidden, state));

    // A (batch, length) chunk through every layer, each with its cache entry; the cache moves on by length.
    private Tensor Chunk(Tensor inputIds, MambaCache cache, Func<MambaBlock, Tensor, IMixerState, Tensor> runLayer)
    {
        using var scope = NewDisposeScope();
        var hidden = embeddings.forward(inputIds);
        for (int i = 0; i < layers.Count; i++) hidden = runLayer(layers[i], hidden, cache.Layers[i]);
        cache.Position += inputIds.shape[1];
        return norm_f.forward(hidden.to_type(norm_f.weight.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>One decoding step: token ids (batch) → hidden states (batch, hidden_size).</summary>
    public Tensor Step(Tensor tokenIds, MambaCache cache)
    {
        using var scope = NewDisposeScope();
        var hidden = embeddings.forward(tokenIds);
        for (int i = 0; i < layers.Count; i++) hidden = layers[i].Step(hidden, cache.Layers[i]);
        cache.Position += 1;
        return norm_f.forward(hidden.to_type(norm_f.weight.dtype)).MoveToOuterDisposeScope();
    }
}
