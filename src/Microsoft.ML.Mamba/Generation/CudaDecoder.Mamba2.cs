using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Generation;

// The Mamba-2 half of CudaDecoder: which Mamba-2 models it takes and the plan (mamba2_decoder_desc) it builds for them.
internal sealed partial class CudaDecoder
{
    /// <summary>Mamba-2's sizes as the native decoder takes them, read from the config the mixers were made from
    /// (the gated norm's groups and epsilon and Δ's clamp are not visible in the parameters' shapes).</summary>
    internal readonly record struct Mamba2Plan(long Heads, long HeadDim, long Groups, long State, long Width, long NormGroups,
        float NormEps, float DtMin, float DtMax)
    {
        /// <summary>heads × head_dim: z's, x's and the gated norm's width.</summary>
        public long Inner => Heads * HeadDim;

        /// <summary>The conv's channels, x | B | C.</summary>
        public long ConvChannels => Inner + 2 * Groups * State;

        /// <summary>in_proj's rows, z | x B C | Δ.</summary>
        public long InProjRows => Inner + ConvChannels + Heads;

        /// <summary>The plan of a Mamba-2 config: the gated norm per group (mamba_ssm's form) or over the whole width
        /// (transformers'), both with the model's epsilon, as <see cref="Mamba2Mixer"/> builds it.</summary>
        public static Mamba2Plan From(MambaConfig config) => new(config.Heads, config.HeadDim, config.NGroups, config.StateSize,
            config.ConvKernel, config.NormPerGroup ? config.NGroups : 1, (float)config.LayerNormEpsilon,
            (float)config.TimeStepLimit[0], (float)config.TimeStepLimit[1]);
    }

    // Why the native decoder cannot take this Mamba-2 model (every layer a Mamba2Mixer), or null.
    private static string? UnsupportedMamba2(MambaForCausalLM model, ScalarType dtype)
    {
        var plan = Mamba2Plan.From(model.Config);
        if (plan.HeadDim > 256 || plan.State > 256 || plan.Width > 8) return "head_dim or state size above 256, or conv wider than 8";
        foreach (var layer in model.Backbone.layers)
        {
            var m = (Mamba2Mixer)layer.mixer;
            var conv = m.conv1d.weight!;
            if (m.A_log.size(0) != plan.Heads || conv.size(0) != plan.ConvChannels || conv.size(2) != plan.Width ||
                m.in_proj.weight!.size(0) != plan.InProjRows || m.norm.weight.size(0) != plan.Inner || m.out_proj.weight!.size(1) != plan.Inner)
                return "a Mamba-2 mixer whose parameter shapes are not its config's";
            if (m.in_proj.weight!.dtype != dtype || m.out_proj.weight!.dtype != dtype || layer.norm.weight.dtype != dtype)
                return "the layers' matrices and norms are not all of the embeddings' dtype";
        }
        return null;
    }

    // Builds the Mamba-2 plan and the decoder's own states; called by the constructor inside its dispose scope.
    private IntPtr CreateMamba2(MambaForCausalLM model, int batch, int sampleVocab, bool useGraph, Tensor next)
    {
        var config = model.Config;
        var backbone = model.Backbone;
        var device = backbone.norm_f.weight.device;
        var dtype = model.OutputEmbeddings.dtype;
        var plan = Mamba2Plan.From(config);
        var layers = new NativeMamba2DecoderLayer[backbone.layers.Count];
        for (int i = 0; i < layers.Length; i++)
        {
            var m = (Mamba2Mixer)backbone.layers[i].mixer;
            var conv = Keep(zeros(batch, plan.ConvChannels, plan.Width, dtype: dtype, device: device));
            var ssm = Keep(zeros(batch, plan.Heads, plan.HeadDim, plan.State, dtype: ScalarType.Float32, device: device));
            _states.Add((conv, ssm));
            layers[i] = new NativeMamba2DecoderLayer
            {
                norm_weight = Ptr(Fp32(backbone.layers[i].norm.weight)),
                in_proj_weight = Ptr(Matrix(m.in_proj.weight!)),
                in_proj_bias = Ptr(Fp32(m.in_proj.bias)),
                conv_weight = Ptr(Fp32(m.conv1d.weight!.reshape(plan.ConvChannels, plan.Width))),
                conv_bias = Ptr(Fp32(m.conv1d.bias)),
                dt_bias = Ptr(Fp32(m.dt_bias)),
                A_log = Ptr(Fp32(m.A_log)),
                D = Ptr(Fp32(m.D)),
                gate_norm_weight = Ptr(Fp32(m.norm.weight)),
                out_proj_weight = Ptr(Matrix(m.out_proj.weight!)),
                out_proj_bias = Ptr(Fp32(m.out_proj.bias)),
                conv_state = Ptr(conv),
                ssm_state = Ptr(ssm),
            };
        }
        var desc = new NativeMamba2DecoderDesc
        {
            batch = batch, layers = layers.Length, hidden = config.HiddenSize, heads = plan.Heads, head_dim = plan.HeadDim,
            groups = plan.Groups, state = plan.State, width = plan.Width, vocab = config.VocabSize, sample_vocab = sampleVocab,
            norm_groups = plan.NormGroups, dtype = (int)TorchSharpNative.DType(model.OutputEmbeddings),
            residual_in_fp32 = config.ResidualInFp32 ? 1 : 0, use_graph = useGraph ? 1 : 0,
            norm_eps = (float)config.LayerNormEpsilon, gate_norm_eps = plan.NormEps, dt_min = plan.DtMin, dt_max = plan.DtMax,
            embedding = Ptr(Matrix(backbone.embeddings.weight!)),
            lm_head = Ptr(Matrix(model.OutputEmbeddings)),
            norm_f_weight = Ptr(Fp32(backbone.norm_f.weight)),
            token_ids = Ptr(Tokens), next_ids = Ptr(next), logits = Logits is null ? IntPtr.Zero : Ptr(Logits),
        };
        NativeMethods.Check(NativeMethods.CreateMamba2Decoder(desc, layers, withOut: true, out var handle), "CUDA decoder (Mamba-2)");
        return handle;
    }
}
