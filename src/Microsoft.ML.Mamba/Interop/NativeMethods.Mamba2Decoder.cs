using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

// P/Invoke and struct mirrors of mamba_decoder.h's Mamba-2 section (mamba2_decoder_create_cuda). The decoder it makes
// is stepped and destroyed with mamba_decoder_step_cuda and mamba_decoder_destroy (NativeMethods.Decoder.cs). Field
// order and types must match the C structs exactly.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)] public static partial int mamba2_decoder_create_cuda(NativeMamba2DecoderDesc* desc, IntPtr* decoder);

    /// <summary>mamba2_decoder_create_cuda with <paramref name="layers"/> as the layer array; null <paramref name="desc"/>
    /// or <paramref name="withOut"/> false pass NULL for the descriptor or the out-pointer. Returns the status.</summary>
    public static int CreateMamba2Decoder(NativeMamba2DecoderDesc? desc, NativeMamba2DecoderLayer[]? layers, bool withOut, out IntPtr handle)
    {
        var d = desc.GetValueOrDefault();
        IntPtr h = IntPtr.Zero;
        fixed (NativeMamba2DecoderLayer* l = layers)
        {
            d.layer_weights = (IntPtr)l;
            int status = mamba2_decoder_create_cuda(desc is null ? null : &d, withOut ? &h : null);
            handle = h;
            return status;
        }
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeMamba2DecoderLayer
{
    public IntPtr norm_weight, in_proj_weight, in_proj_bias, conv_weight, conv_bias, dt_bias, A_log, D, gate_norm_weight,
        out_proj_weight, out_proj_bias, conv_state, ssm_state;
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeMamba2DecoderDesc
{
    public long batch, layers, hidden, heads, head_dim, groups, state, width, vocab, sample_vocab, norm_groups;
    public int dtype, residual_in_fp32, use_graph, reserved;
    public float norm_eps, gate_norm_eps, dt_min, dt_max;
    public IntPtr embedding, lm_head, norm_f_weight, layer_weights, token_ids, next_ids, logits;
}
