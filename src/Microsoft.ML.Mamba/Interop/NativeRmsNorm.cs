using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Calls the forward-only RMSNorm (mamba_rms_norm_*) that decoding and inference use; training keeps
/// TorchSharp's differentiable ops. The caller (NativeKernels) has checked devices and dtypes.
/// </summary>
internal static class NativeRmsNorm
{
    /// <remarks>x is contiguous and normalised over its last axis; weight (size) is contiguous, of x's dtype.</remarks>
    public static Tensor Run(Tensor x, Tensor weight, double eps)
    {
        long size = x.size((int)x.dim() - 1), rows = x.numel() / size;
        var output = empty_like(x);
        var xPtr = TorchSharpNative.DataPointer(x);
        var wPtr = TorchSharpNative.DataPointer(weight);
        var outPtr = TorchSharpNative.DataPointer(output);
        int dtype = (int)TorchSharpNative.DType(x);
        int status = x.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_rms_norm_cuda(rows, size, dtype, xPtr, size, wPtr, (float)eps, outPtr, size, IntPtr.Zero)
            : NativeMethods.mamba_rms_norm_cpu(rows, size, dtype, xPtr, size, wPtr, (float)eps, outPtr, size);
        NativeMethods.Check(status, "rms norm");
        return output;
    }
}
