using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>P/Invoke declarations of native/include/mamba_native.h (the only contract with native code).</summary>
internal static unsafe partial class NativeMethods
{
    public const string Library = "mamba_native";
    public const int AbiVersion = 6;

    [LibraryImport(Library)] public static partial int mamba_abi_version();
    [LibraryImport(Library)] public static partial int mamba_has_cuda();
    [LibraryImport(Library)] public static partial IntPtr mamba_last_error();
    [LibraryImport(Library)] public static partial void mamba_set_num_threads(int threads);

    [LibraryImport(Library)] public static partial int mamba_scan_fwd_cpu(NativeScanArgs* args, NativeScanOutputs* outputs);
    [LibraryImport(Library)] public static partial int mamba_scan_bwd_cpu(NativeScanArgs* args, NativeScanGrads* grads);
    [LibraryImport(Library)] public static partial int mamba_scan_fwd_cuda(NativeScanArgs* args, NativeScanOutputs* outputs, IntPtr stream);
    [LibraryImport(Library)] public static partial int mamba_scan_bwd_cuda(NativeScanArgs* args, NativeScanGrads* grads, IntPtr stream);
    [LibraryImport(Library)] public static partial long mamba_scan_checkpoint_floats_cuda(NativeScanArgs* args);

    [LibraryImport(Library)] public static partial int mamba_conv1d_fwd_cpu(NativeConvArgs* args, IntPtr output, long* outStride);
    [LibraryImport(Library)] public static partial int mamba_conv1d_bwd_cpu(NativeConvArgs* args, IntPtr dout, long* doutStride,
        IntPtr dx, long* dxStride, IntPtr dweight, IntPtr dbias);
    [LibraryImport(Library)] public static partial int mamba_conv1d_fwd_cuda(NativeConvArgs* args, IntPtr output, long* outStride, IntPtr stream);
    [LibraryImport(Library)] public static partial int mamba_conv1d_bwd_cuda(NativeConvArgs* args, IntPtr dout, long* doutStride,
        IntPtr dx, long* dxStride, IntPtr dweight, IntPtr dbias, IntPtr stream);

    [LibraryImport(Library)] public static partial int mamba_decode_step_cpu(NativeStepArgs* args);
    [LibraryImport(Library)] public static partial int mamba_decode_step_cuda(NativeStepArgs* args, IntPtr stream);

    [LibraryImport(Library)] public static partial int mamba_rms_norm_cpu(long rows, long size, int dtype, IntPtr x, long xRowStride,
        IntPtr weight, float eps, IntPtr output, long outRowStride);
    [LibraryImport(Library)] public static partial int mamba_rms_norm_cuda(long rows, long size, int dtype, IntPtr x, long xRowStride,
        IntPtr weight, float eps, IntPtr output, long outRowStride, IntPtr stream);

    [LibraryImport(Library)] public static partial int mamba_rms_norm_train_fwd_cuda(long rows, long size, int dtype, IntPtr x,
        IntPtr weight, float eps, IntPtr output, IntPtr rstd, IntPtr stream);
    [LibraryImport(Library)] public static partial int mamba_rms_norm_train_bwd_cuda(long rows, long size, int dtype, IntPtr x,
        IntPtr weight, IntPtr rstd, IntPtr dout, IntPtr dx, IntPtr dweight, IntPtr stream);

    [LibraryImport(Library)] public static partial int mamba_gated_rms_norm_fwd_cpu(long rows, long size, long groups, int dtype,
        IntPtr y, IntPtr z, IntPtr weight, float eps, IntPtr output, IntPtr rstd);
    [LibraryImport(Library)] public static partial int mamba_gated_rms_norm_bwd_cpu(long rows, long size, long groups, int dtype,
        IntPtr y, IntPtr z, IntPtr weight, IntPtr rstd, IntPtr dout, IntPtr dy, IntPtr dz, IntPtr dweight);
    [LibraryImport(Library)] public static partial int mamba_gated_rms_norm_fwd_cuda(long rows, long size, long groups, int dtype,
        IntPtr y, IntPtr z, IntPtr weight, float eps, IntPtr output, IntPtr rstd, IntPtr stream);
    [LibraryImport(Library)] public static partial int mamba_gated_rms_norm_bwd_cuda(long rows, long size, long groups, int dtype,
        IntPtr y, IntPtr z, IntPtr weight, IntPtr rstd, IntPtr dout, IntPtr dy, IntPtr dz, IntPtr dweight, IntPtr stream);

    [LibraryImport(Library)] public static partial int mamba_adamw_step_cpu(NativeAdamWTensor* tensors, long count);
    [LibraryImport(Library)] public static partial int mamba_adamw_step_cuda(NativeAdamWTensor* tensors, long count, IntPtr stream);

    /// <summary>Throws <see cref="MambaNativeException"/> with the native message when a call failed.</summary>
    public static void Check(int status, string operation)
    {
        if (status == (int)NativeStatus.Ok) return;
        string message = Marshal.PtrToStringUTF8(mamba_last_error()) ?? "";
        throw new MambaNativeException((NativeStatus)status, $"{operation} failed ({(NativeStatus)status}): {message}");
    }
}
