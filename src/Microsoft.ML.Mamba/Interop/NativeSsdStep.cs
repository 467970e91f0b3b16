using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Calls the fused Mamba-2 decode step (mamba_ssd_step_*). The caller (NativeKernels) has checked shapes, devices and
/// dtypes; this only fills the C struct. It runs without autograd: decoding needs no backward.
/// </summary>
internal static unsafe class NativeSsdStep
{
    /// <remarks>xBC (batch, K), dt (batch, H) of xBC's dtype and convState (batch, K, W) may have any strides;
    /// convWeight and the other small tensors are fp32 contiguous; ssmState is (batch, H, P, N) fp32 contiguous.</remarks>
    public static Tensor Run(Tensor xBC, Tensor dt, Tensor convState, Tensor ssmState, Tensor convWeight, Tensor? convBias,
        Tensor? dtBias, Tensor aLog, Tensor? D, long groups, double dtMin, double dtMax, bool dtSoftplus = true)
    {
        long batch = xBC.size(0), heads = ssmState.size(1), headDim = ssmState.size(2);
        var output = empty(batch, heads * headDim, dtype: xBC.dtype, device: xBC.device);
        var args = new NativeSsdStepArgs
        {
            batch = batch, heads = heads, head_dim = headDim, groups = groups, state = ssmState.size(3), width = convState.size(2),
            dtype = (int)TorchSharpNative.DType(xBC),
            dt_softplus = dtSoftplus ? 1 : 0,
            dt_min = (float)dtMin,
            dt_max = (float)dtMax,
            xBC = TorchSharpNative.DataPointer(xBC),
            dt = TorchSharpNative.DataPointer(dt),
            conv_state = TorchSharpNative.DataPointer(convState),
            conv_weight = TorchSharpNative.DataPointer(convWeight),
            conv_bias = TorchSharpNative.DataPointer(convBias, IntPtr.Zero),
            dt_bias = TorchSharpNative.DataPointer(dtBias, IntPtr.Zero),
            A_log = TorchSharpNative.DataPointer(aLog),
            D = TorchSharpNative.DataPointer(D, IntPtr.Zero),
            ssm_state = TorchSharpNative.DataPointer(ssmState),
            @out = TorchSharpNative.DataPointer(output),
        };
        TensorLayout.CopyStrides(xBC, args.xBC_stride, 2);
        TensorLayout.CopyStrides(dt, args.dt_stride, 2);
        TensorLayout.CopyStrides(convState, args.conv_state_stride, 3);
        TensorLayout.CopyStrides(output, args.out_stride, 2);
        int status = xBC.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_ssd_step_cuda(&args, IntPtr.Zero)
            : NativeMethods.mamba_ssd_step_cpu(&args);
        NativeMethods.Check(status, "Mamba-2 decode step");
        return output;
    }
}
