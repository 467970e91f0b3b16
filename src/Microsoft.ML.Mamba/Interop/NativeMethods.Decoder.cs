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
