using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

// The weight-only quantized projections of native/include/mamba_native.h (mamba_quantize_int8_cpu, mamba_gemv_cpu,
// mamba_decode_step_wq_cpu): CPU decoding with int8 or bf16 weights.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)] public static partial int mamba_quantize_int8_cpu(long rows, long cols, IntPtr weight, long weightRowStride,
        IntPtr q, IntPtr scales);
    [LibraryImport(Library)] public static partial int mamba_gemv_cpu(NativeGemvArgs* args);
    [LibraryImport(Library)] public static partial int mamba_decode_step_wq_cpu(NativeStepArgs* args, int xProjFormat, IntPtr xProjScales);

    /// <summary>mamba_gemv_cpu on a copy of <paramref name="args"/> (callers need no unsafe code).</summary>
    public static int Gemv(NativeGemvArgs args) => mamba_gemv_cpu(&args);
}

/// <summary>mamba_weight_format: how a projection's weights are stored.</summary>
internal enum NativeWeightFormat
{
    F32 = 0,
    BF16 = 2,
    Int8 = 8,
}

/// <summary>Mirror of mamba_gemv_args.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeGemvArgs
{
    public long batch, @in, @out;
    public int weight_format, reserved;
    public IntPtr x; public long x_row_stride;
    public IntPtr weight;
    public IntPtr scales;
    public IntPtr bias;
    public IntPtr add; public long add_row_stride;
    public IntPtr y; public long y_row_stride;
}
