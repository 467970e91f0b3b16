using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Calls the fused decode step (mamba_decode_step_*). The caller (NativeKernels) has checked devices and
/// dtypes; this only fills the C struct. It runs without autograd: decoding needs no backward.
/// </summary>
internal static unsafe class NativeDecodeStep
{
    /// <remarks>x and z (batch, E) and convState (batch, E, W) may have any strides; convWeight is fp32 contiguous
    /// (E, 1, W) or (E, W); the other small tensors are fp32 contiguous; ssmState is (batch, E, N) fp32 contiguous.
    /// With <paramref name="xProjFormat"/> (CPU, fp32 x only) xProjWeight is stored in that weight format, int8 with
    /// <paramref name="xProjScales"/> (mamba_decode_step_wq_cpu).</remarks>
    public static Tensor Run(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, Tensor convWeight, Tensor? convBias,
        Tensor xProjWeight, Tensor dtProjWeight, Tensor? dtBias, Tensor aLog, Tensor? D,
        NativeWeightFormat? xProjFormat = null, Tensor? xProjScales = null)
    {
        // size(i)/stride(i) rather than shape/stride(): each of those allocates an array through a slower
        // native call (~2 us), which adds up at one call per layer per token.
        long batch = x.size(0), dim = x.size(1), state = ssmState.size(2), rank = dtProjWeight.size(1);
        var output = empty(batch, dim, dtype: x.dtype, device: x.device);
        var workspace = Workspace(batch * (dim + rank + 2 * state), x);
        var args = new NativeStepArgs
        {
            batch = batch, dim = dim, state = state, dt_rank = rank, width = convState.size(2),
            dtype = (int)TorchSharpNative.DType(x),
            x = TorchSharpNative.DataPointer(x),
            z = TorchSharpNative.DataPointer(z, IntPtr.Zero),
            conv_state = TorchSharpNative.DataPointer(convState),
            conv_weight = TorchSharpNative.DataPointer(convWeight),
            conv_bias = TorchSharpNative.DataPointer(convBias, IntPtr.Zero),
            x_proj_weight = TorchSharpNative.DataPointer(xProjWeight),
            dt_proj_weight = TorchSharpNative.DataPointer(dtProjWeight),
            dt_bias = TorchSharpNative.DataPointer(dtBias, IntPtr.Zero),
            A_log = TorchSharpNative.DataPointer(aLog),
            D = TorchSharpNative.DataPointer(D, IntPtr.Zero),
            ssm_state = TorchSharpNative.DataPointer(ssmState),
            workspace = TorchSharpNative.DataPointer(workspace),
            @out = TorchSharpNative.DataPointer(output),
        };
        TensorLayout.CopyStrides(x, args.x_stride, 2);
        if (z is not null) TensorLayout.CopyStrides(z, args.z_stride, 2);
        TensorLayout.CopyStrides(convState, args.conv_state_stride, 3);
        TensorLayout.CopyStrides(output, args.out_stride, 2);
        int status = x.device_type == DeviceType.CUDA ? NativeMethods.mamba_decode_step_cuda(&args, IntPtr.Zero)
            : xProjFormat is { } format ? NativeMethods.mamba_decode_step_wq_cpu(&args, (int)format, TorchSharpNative.DataPointer(xProjScales, IntPtr.Zero))
            : NativeMethods.mamba_decode_step_cpu(&args);
        NativeMethods.Check(status, "decode step");
        return output;
    }

    // One scratch buffer per thread and device, grown as needed and reused by every layer and token: steps
    // run in order on the device's default stream, so a step never overwrites scratch another still reads.
    [ThreadStatic] private static Dictionary<(DeviceType, int), Tensor>? s_workspaces;

    private static Tensor Workspace(long floats, Tensor like)
    {
        s_workspaces ??= new();
        var key = (like.device_type, like.device_index);
        if (s_workspaces.TryGetValue(key, out var buffer) && buffer.numel() >= floats) return buffer;
        buffer?.Dispose();
        buffer = empty(Math.Max(floats, 1 << 14), dtype: ScalarType.Float32, device: like.device).DetachFromDisposeScope();
        s_workspaces[key] = buffer;
        return buffer;
    }
}
