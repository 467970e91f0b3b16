using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

// P/Invokes and struct mirrors of native/include/mamba_decoder.h (whole-model CUDA decoding). Field order and
// types must match the C structs exactly.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)] public static partial int mamba_decoder_create_cuda(NativeDecoderDesc* desc, IntPtr* decoder);
    [LibraryImport(Library)] public static partial int mamba_decoder_step_cuda(IntPtr decoder, IntPtr stream, long* hostNextIds);
    [LibraryImport(Library)] public static partial int mamba_decoder_destroy(IntPtr decoder);
    [LibraryImport(Library)] public static partial double mamba_cuda_peak_bandwidth(int device);

    /// <summary>mamba_decoder_create_cuda with <paramref name="layers"/> as the layer array; null <paramref name="desc"/>
    /// or <paramref name="withOut"/> false pass NULL for the descriptor or the out-pointer. Returns the status.</summary>
    public static int CreateDecoder(NativeDecoderDesc? desc, NativeDecoderLayer[]? layers, bool withOut, out IntPtr handle)
    {
        var d = desc.GetValueOrDefault();
        IntPtr h = IntPtr.Zero;
        fixed (NativeDecoderLayer* l = layers)
        {
            d.layer_weights = (IntPtr)l;
            int status = mamba_decoder_create_cuda(desc is null ? null : &d, withOut ? &h : null);
            handle = h;
            return status;
        }
    }

    /// <summary>mamba_decoder_step_cuda on the legacy default stream; the greedy ids go to <paramref name="hostNext"/> when given.</summary>
    public static int StepDecoder(IntPtr decoder, long[]? hostNext)
    {
        fixed (long* next = hostNext) return mamba_decoder_step_cuda(decoder, IntPtr.Zero, next);
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeDecoderLayer
{
    public IntPtr norm_weight, in_proj_weight, in_proj_bias, conv_weight, conv_bias, x_proj_weight, dt_proj_weight,
        dt_bias, A_log, D, out_proj_weight, out_proj_bias, conv_state, ssm_state;
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeDecoderDesc
{
    public long batch, layers, hidden, inner, state, dt_rank, width, vocab, sample_vocab;
    public int dtype, gated, residual_in_fp32, use_graph;
    public float norm_eps;
    public int reserved;
    public IntPtr embedding, lm_head, norm_f_weight, layer_weights, token_ids, next_ids, logits;
}
