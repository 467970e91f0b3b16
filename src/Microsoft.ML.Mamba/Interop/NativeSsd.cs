using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Fills the C ABI structs of the SSD scan (mamba_ssd_*) from its named tensors (<see cref="SsdTensors"/>) and calls
/// the CPU or CUDA entry point. The caller (NativeKernels) has checked shapes, devices and dtypes.
/// </summary>
internal static unsafe class NativeSsd
{
    /// <summary>The largest chunk the kernels take; the chunk is a hint, so longer ones are clamped to it.</summary>
    public const int MaxChunk = 1024;

    /// <summary>Writes y and the final state (fp32, contiguous) of <paramref name="inputs"/>.</summary>
    /// <returns>
    /// With <see cref="StateSpaceDualFunction.SsdSettings.KeepCheckpoints"/> on CUDA, what the forward kept for the
    /// backward (dt, its cumulative sums, C·B and the state entering each chunk); null otherwise, or when the kernels
    /// in use would not read them (MAMBA_SSD_KERNELS=v1 or v2, MAMBA_SSD_PASS=separate).
    /// </returns>
    public static Tensor? Forward(in SsdTensors inputs, StateSpaceDualFunction.SsdSettings settings, Tensor y, Tensor final)
    {
        var args = MakeArgs(inputs, settings);
        bool cuda = y.device_type == DeviceType.CUDA;
        long checkpointFloats = settings.KeepCheckpoints && cuda ? NativeMethods.mamba_ssd_checkpoint_floats_cuda(&args) : 0;
        Tensor? checkpoints = checkpointFloats > 0 ? empty(checkpointFloats, dtype: ScalarType.Float32, device: y.device) : null;
        var outputs = new NativeSsdOutputs
        {
            y = TorchSharpNative.DataPointer(y), final_state = TorchSharpNative.DataPointer(final),
            checkpoints = TorchSharpNative.DataPointer(checkpoints, IntPtr.Zero),
        };
        TensorLayout.CopyStrides(y, outputs.y_stride, 4);
        int status = cuda
            ? NativeMethods.mamba_ssd_fwd_cuda(&args, &outputs, IntPtr.Zero)
            : NativeMethods.mamba_ssd_fwd_cpu(&args, &outputs);
        if (status != 0) checkpoints?.Dispose();
        NativeMethods.Check(status, "SSD scan forward");
        return checkpoints;
    }

    /// <returns>One gradient per input, named like the inputs (null where the input was null).</returns>
    /// <param name="inputs">The forward's inputs.</param>
    /// <param name="settings">The forward's settings.</param>
    /// <param name="dy">Gradient of the loss with respect to y.</param>
    /// <param name="dfinal">Gradient with respect to the final state, or null when the final state was not used.</param>
    /// <param name="checkpoints">What <see cref="Forward"/> kept for these same inputs, or null (the kernels recompute it).</param>
    public static SsdTensors Backward(in SsdTensors inputs, StateSpaceDualFunction.SsdSettings settings, Tensor dy, Tensor? dfinal,
        Tensor? checkpoints = null)
    {
        var args = MakeArgs(inputs, settings);
        var (x, dt, A, B, C, D, dtBias, initial) = inputs;
        var f32 = ScalarType.Float32;
        var dx = empty(new[] { x.size(0), x.size(1), x.size(2), x.size(3) }, dtype: x.dtype, device: x.device);
        var ddt = empty(new[] { dt.size(0), dt.size(1), dt.size(2) }, dtype: x.dtype, device: x.device);
        var dA = empty(A.size(0), dtype: f32, device: x.device);
        var dB = empty(new[] { B.size(0), B.size(1), B.size(2), B.size(3) }, dtype: x.dtype, device: x.device);
        var dC = empty(new[] { C.size(0), C.size(1), C.size(2), C.size(3) }, dtype: x.dtype, device: x.device);
        Tensor? dD = D is null ? null : empty(D.size(0), dtype: f32, device: x.device);
        Tensor? dBias = dtBias is null ? null : empty(dtBias.size(0), dtype: f32, device: x.device);
        Tensor? dInitial = initial is null ? null
            : empty(new[] { initial.size(0), initial.size(1), initial.size(2), initial.size(3) }, dtype: f32, device: x.device);
        var dfinalContiguous = dfinal is null || (dfinal.dtype == f32 && dfinal.is_contiguous()) ? dfinal : dfinal.to_type(f32).contiguous();
        var grads = new NativeSsdGrads
        {
            dy = TorchSharpNative.DataPointer(dy),
            dfinal_state = TorchSharpNative.DataPointer(dfinalContiguous, IntPtr.Zero),
            dx = TorchSharpNative.DataPointer(dx),
            ddt = TorchSharpNative.DataPointer(ddt),
            dA = TorchSharpNative.DataPointer(dA),
            dB = TorchSharpNative.DataPointer(dB),
            dC = TorchSharpNative.DataPointer(dC),
            dD = TorchSharpNative.DataPointer(dD, IntPtr.Zero),
            ddt_bias = TorchSharpNative.DataPointer(dBias, IntPtr.Zero),
            dinitial_state = TorchSharpNative.DataPointer(dInitial, IntPtr.Zero),
            checkpoints = TorchSharpNative.DataPointer(checkpoints, IntPtr.Zero),
        };
        TensorLayout.CopyStrides(dy, grads.dy_stride, 4);
        TensorLayout.CopyStrides(dx, grads.dx_stride, 4);
        TensorLayout.CopyStrides(ddt, grads.ddt_stride, 3);
        TensorLayout.CopyStrides(dB, grads.dB_stride, 4);
        TensorLayout.CopyStrides(dC, grads.dC_stride, 4);
        int status = x.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_ssd_bwd_cuda(&args, &grads, IntPtr.Zero)
            : NativeMethods.mamba_ssd_bwd_cpu(&args, &grads);
        NativeMethods.Check(status, "SSD scan backward");
        if (!ReferenceEquals(dfinalContiguous, dfinal)) dfinalContiguous?.Dispose();
        return new SsdTensors(dx, ddt, dA, dB, dC, dD, dBias, dInitial);
    }

    private static NativeSsdArgs MakeArgs(in SsdTensors inputs, StateSpaceDualFunction.SsdSettings settings)
    {
        var (x, dt, A, B, C, D, dtBias, initial) = inputs;
        var args = new NativeSsdArgs
        {
            batch = x.size(0), length = x.size(1), heads = x.size(2), head_dim = x.size(3),
            groups = B.size(2), state = B.size(3),
            chunk = Math.Clamp(settings.Chunk, 1, MaxChunk),
            dtype = (int)TorchSharpNative.DType(x),
            dt_softplus = settings.DtSoftplus ? 1 : 0,
            dt_min = (float)settings.DtMin,
            dt_max = (float)settings.DtMax,
            deterministic = settings.Deterministic ? 1 : 0,
            x = TorchSharpNative.DataPointer(x),
            dt = TorchSharpNative.DataPointer(dt),
            A = TorchSharpNative.DataPointer(A),
            B = TorchSharpNative.DataPointer(B),
            C = TorchSharpNative.DataPointer(C),
            D = TorchSharpNative.DataPointer(D, IntPtr.Zero),
            dt_bias = TorchSharpNative.DataPointer(dtBias, IntPtr.Zero),
            initial_state = TorchSharpNative.DataPointer(initial, IntPtr.Zero),
        };
        TensorLayout.CopyStrides(x, args.x_stride, 4);
        TensorLayout.CopyStrides(dt, args.dt_stride, 3);
        TensorLayout.CopyStrides(B, args.B_stride, 4);
        TensorLayout.CopyStrides(C, args.C_stride, 4);
        return args;
    }
}
