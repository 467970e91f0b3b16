using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Generation;

/// <summary>
/// Decodes a Mamba-1 or Mamba-2 language model on CUDA with one native call per token (mamba_decoder_*,
/// mamba2_decoder_create_cuda): the whole step, every layer, the final norm, lm_head and the greedy choice, replayed
/// from a CUDA graph. Weights are read where the model
/// holds them (matrices in its dtype, small per-channel parameters as fp32 copies made here, once); the conv and SSM
/// states live in tensors of this decoder, filled from a prefilled <see cref="MambaCache"/>. Rows never leave the
/// batch: a finished row keeps running, which costs next to nothing at decoding's batch sizes.
/// </summary>
internal sealed partial class CudaDecoder : IDisposable
{
    private readonly List<Tensor> _owned = new();
    private readonly List<(Tensor Conv, Tensor Ssm)> _states = new();
    private IntPtr _handle;

    /// <summary>(batch) int64: each step's input; greedy steps overwrite it with their choice.</summary>
    public Tensor Tokens { get; }

    /// <summary>(batch, vocab) fp32 logits of the last step, or null when the decoder was made without them.</summary>
    public Tensor? Logits { get; }

    /// <summary>Rows stepped together.</summary>
    public int Batch { get; }

    /// <summary>Each layer's conv and SSM state as the decoder keeps them (for tests).</summary>
    internal IReadOnlyList<(Tensor Conv, Tensor Ssm)> States => _states;

    /// <summary>Why <paramref name="model"/> cannot decode here, or null when it can.</summary>
    public static string? Unsupported(MambaForCausalLM model)
    {
        using var scope = NewDisposeScope();   // the weight getters below make tensor handles
        if (model.OutputEmbeddings.device_type != DeviceType.CUDA) return "the model is not on a CUDA device";
        if (!NativeKernels.IsAvailable) return $"libmamba_native unavailable: {NativeLibraryLoader.FailureReason}";
        if (!NativeKernels.HasCuda) return "libmamba_native was built without CUDA";
        if (model.Backbone.Kernels is not (null or NativeKernels)) return $"the model's kernels are '{model.Backbone.Kernels.Name}', not native";
        return UnsupportedModel(model);
    }

    /// <summary>The checks of <see cref="Unsupported"/> that depend on the model only, not on its device or the native
    /// build: dtypes, mixers and sizes.</summary>
    internal static string? UnsupportedModel(MambaForCausalLM model)
    {
        using var scope = NewDisposeScope();
        var dtype = model.OutputEmbeddings.dtype;
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16)) return $"dtype {dtype} (fp32 and bf16 are supported)";
        if (model.Backbone.norm_f.weight.dtype != dtype || model.Backbone.embeddings.weight!.dtype != dtype)
            return "the embeddings, lm_head and final norm have different dtypes";
        var config = model.Config;
        if (config.HiddenSize > 24576 || config.InnerSize > 24576) return "hidden or inner size above 24576";
        var layers = model.Backbone.layers;
        if (layers.Count > 0 && layers.All(l => l.mixer is Mamba2Mixer)) return UnsupportedMamba2(model, dtype);
        foreach (var layer in layers)
        {
            if (layer.mixer is not MambaMixer m)
                return $"a {layer.mixer.GetType().Name} layer (the decoder takes models whose layers are all Mamba-1 or all Mamba-2 mixers)";
            if (m.x_proj is null) return "a time-invariant (non-selective) mixer";
            if (m.A_log.size(1) > 256 || m.conv1d.weight!.size(2) > 8) return "state size above 256 or conv wider than 8";
            if (m.in_proj.weight!.dtype != dtype || m.x_proj.weight!.dtype != dtype || m.dt_proj.weight!.dtype != dtype ||
                m.out_proj.weight!.dtype != dtype || layer.norm.weight.dtype != dtype)
                return "the layers' matrices and norms are not all of the embeddings' dtype";
        }
        return null;
    }

    /// <summary>A decoder for <paramref name="batch"/> rows; check <see cref="Unsupported"/> first.</summary>
    /// <param name="model">A Mamba-1 or Mamba-2 model on CUDA in fp32 or bf16.</param>
    /// <param name="batch">Rows stepped together.</param>
    /// <param name="sampleVocab">The greedy choice considers ids below this.</param>
    /// <param name="withLogits">Whether each step writes <see cref="Logits"/> (needed by samplers other than greedy).</param>
    /// <param name="useGraph">Capture the step in a CUDA graph (false: launch its kernels every step).</param>
    public CudaDecoder(MambaForCausalLM model, int batch, int sampleVocab, bool withLogits, bool useGraph = true)
    {
        if (Unsupported(model) is { } reason) throw new NotSupportedException($"The CUDA decoder cannot run this model: {reason}.");
        Batch = batch;
        var config = model.Config;
        var backbone = model.Backbone;
        var device = backbone.norm_f.weight.device;
        var dtype = model.OutputEmbeddings.dtype;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        try
        {
            Tokens = Keep(zeros(batch, dtype: ScalarType.Int64, device: device));
            var next = Keep(zeros(batch, dtype: ScalarType.Int64, device: device));
            Logits = withLogits ? Keep(zeros(batch, config.VocabSize, dtype: ScalarType.Float32, device: device)) : null;
            if (backbone.layers[0].mixer is Mamba2Mixer)
            {
                _handle = CreateMamba2(model, batch, sampleVocab, useGraph, next);
                return;
            }
            var layers = new NativeDecoderLayer[backbone.layers.Count];
            long inner = 0, state = 0, rank = 0, width = 0;
            bool gated = false;
            for (int i = 0; i < layers.Length; i++)
            {
                var m = (MambaMixer)backbone.layers[i].mixer;
                inner = m.A_log.size(0); state = m.A_log.size(1); rank = m.dt_proj.weight!.size(1); width = m.conv1d.weight!.size(2);
                gated = m.in_proj.weight!.size(0) == 2 * inner;
                var conv = Keep(zeros(batch, inner, width, dtype: dtype, device: device));
                var ssm = Keep(zeros(batch, inner, state, dtype: ScalarType.Float32, device: device));
                _states.Add((conv, ssm));
                layers[i] = new NativeDecoderLayer
                {
                    norm_weight = Ptr(Fp32(backbone.layers[i].norm.weight)),
                    in_proj_weight = Ptr(Matrix(m.in_proj.weight!)),
                    in_proj_bias = Ptr(Fp32(m.in_proj.bias)),
                    conv_weight = Ptr(Fp32(m.conv1d.weight!.reshape(inner, width))),
                    conv_bias = Ptr(Fp32(m.conv1d.bias)),
                    x_proj_weight = Ptr(Matrix(m.x_proj!.weight!)),
                    dt_proj_weight = Ptr(Matrix(m.dt_proj.weight!)),
                    dt_bias = Ptr(Fp32(m.dt_proj.bias)),
                    A_log = Ptr(Fp32(m.A_log)),
                    D = Ptr(Fp32(m.D)),
                    out_proj_weight = Ptr(Matrix(m.out_proj.weight!)),
                    out_proj_bias = Ptr(Fp32(m.out_proj.bias)),
                    conv_state = Ptr(conv),
                    ssm_state = Ptr(ssm),
                };
            }
            var desc = new NativeDecoderDesc
            {
                batch = batch, layers = layers.Length, hidden = config.HiddenSize, inner = inner, state = state,
                dt_rank = rank, width = width, vocab = config.VocabSize, sample_vocab = sampleVocab,
                dtype = (int)TorchSharpNative.DType(model.OutputEmbeddings), gated = gated ? 1 : 0,
                residual_in_fp32 = config.ResidualInFp32 ? 1 : 0, use_graph = useGraph ? 1 : 0,
                norm_eps = (float)config.LayerNormEpsilon,
                embedding = Ptr(Matrix(backbone.embeddings.weight!)),
                lm_head = Ptr(Matrix(model.OutputEmbeddings)),
                norm_f_weight = Ptr(Fp32(backbone.norm_f.weight)),
                token_ids = Ptr(Tokens), next_ids = Ptr(next), logits = Logits is null ? IntPtr.Zero : Ptr(Logits),
            };
            NativeMethods.Check(NativeMethods.CreateDecoder(desc, layers, withOut: true, out _handle), "CUDA decoder");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Copies the states a prefill left in <paramref name="cache"/> (same batch) into the decoder.</summary>
    public void LoadState(MambaCache cache)
    {
        if (cache.Layers.Count != _states.Count) throw new ArgumentException($"the cache has {cache.Layers.Count} layers, the decoder {_states.Count}", nameof(cache));
        using var _ = no_grad();
        for (int i = 0; i < _states.Count; i++)
        {
            var (conv, ssm) = cache.Layers[i] switch
            {
                MambaLayerState m1 => (m1.ConvState, m1.SsmState),
                Mamba2LayerState m2 => (m2.ConvState, m2.SsmState),
                var other => throw new ArgumentException($"layer {i} of the cache is a {other.GetType().Name}", nameof(cache)),
            };
            _states[i].Conv.copy_(conv);
            _states[i].Ssm.copy_(ssm);
        }
    }

    /// <summary>
    /// One token for every row. With <paramref name="hostNext"/> (length <see cref="Batch"/>) the greedy choices are
    /// copied there (-1: the chosen logit was not finite; -2: an input token was out of range) and the call waits for
    /// the step; without, it only enqueues the step on the legacy default stream.
    /// </summary>
    public void Step(long[]? hostNext)
    {
        ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
        if (hostNext is not null && hostNext.Length != Batch) throw new ArgumentException($"hostNext must hold {Batch} ids", nameof(hostNext));
        NativeMethods.Check(NativeMethods.StepDecoder(_handle, hostNext), "CUDA decoder step");
    }

    public void Dispose()
    {
        if (_handle != IntPtr.Zero)
        {
            NativeMethods.mamba_decoder_destroy(_handle);   // waits for the device first: a step may still read the tensors below
            _handle = IntPtr.Zero;
        }
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
        _states.Clear();
    }

    private Tensor Keep(Tensor t)
    {
        t = t.DetachFromDisposeScope();
        _owned.Add(t);
        return t;
    }

    // detach() first: a new handle in every case, so disposing what is kept never disposes a module's parameter.
    private Tensor Matrix(Tensor w) => Keep(w.detach().contiguous());

    private Tensor? Fp32(Tensor? p) => p is null ? null : Keep(p.detach().to_type(ScalarType.Float32).contiguous());

    private static IntPtr Ptr(Tensor? t) => TorchSharpNative.DataPointer(t, IntPtr.Zero);
}
