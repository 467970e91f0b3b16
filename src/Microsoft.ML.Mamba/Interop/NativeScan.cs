using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Fills the C ABI structs from the scan's named tensors (<see cref="ScanTensors"/>) and calls the CPU or CUDA entry point.
/// </summary>
internal static unsafe class NativeScan
{
    /// <returns>
    /// With <see cref="SelectiveScanFunction.ScanSettings.KeepCheckpoints"/> on CUDA, the state checkpoints the forward
    /// wrote for the backward; null otherwise, or when the backward would not use them (sequences long enough to be
    /// split into time segments).
    /// </returns>
    public static Tensor? Forward(in ScanTensors inputs, SelectiveScanFunction.ScanSettings settings, Tensor output, Tensor final)
    {
        var args = MakeArgs(inputs, settings);
        bool cuda = output.device_type == DeviceType.CUDA;
        long checkpointFloats = settings.KeepCheckpoints && cuda ? NativeMethods.mamba_scan_checkpoint_floats_cuda(&args) : 0;
        Tensor? checkpoints = checkpointFloats > 0 ? empty(checkpointFloats, dtype: ScalarType.Float32, device: output.device) : null;
        var outputs = new NativeScanOutputs
        {
            @out = TorchSharpNative.DataPointer(output), final_state = TorchSharpNative.DataPointer(final),
            checkpoints = TorchSharpNative.DataPointer(checkpoints, IntPtr.Zero),
        };
        TensorLayout.CopyStrides(output, outputs.out_stride, 3);
        int status = cuda
            ? NativeMethods.mamba_scan_fwd_cuda(&args, &outputs, IntPtr.Zero)
            : NativeMethods.mamba_scan_fwd_cpu(&args, &outputs);
        NativeMethods.Check(status, "selective scan forward");
        return checkpoints;
    }

    /// <returns>One gradient per input, named like the inputs (null where the input was null).</returns>
    /// <param name="inputs">The forward's inputs.</param>
    /// <param name="settings">The forward's settings.</param>
    /// <param name="dout">Gradient of the loss with respect to the scan's output.</param>
    /// <param name="dfinal">Gradient with respect to the final state, or null when the final state was not used.</param>
    /// <param name="checkpoints">What <see cref="Forward"/> wrote for these same inputs, or null (the kernel recomputes them).</param>
    public static ScanTensors Backward(in ScanTensors inputs, SelectiveScanFunction.ScanSettings settings, Tensor dout, Tensor? dfinal,
        Tensor? checkpoints = null)
    {
        var args = MakeArgs(inputs, settings);
        var (u, delta, A, B, C, D, z, deltaBias, initial) = inputs;
        var f32 = ScalarType.Float32;
        // Gradients in their inputs' memory order, so autograd's transposes back to (batch, length, channels) are free.
        var du = TensorLayout.EmptyLike(u);
        var ddelta = TensorLayout.EmptyLike(delta, u.dtype);
        // size(i), not shape: each shape call is a native round trip that allocates (~2.5 µs), per call of the scan.
        var dA = empty(A.size(0), A.size(1), dtype: f32, device: u.device);
        var dB = TensorLayout.EmptyLike(B);
        var dC = TensorLayout.EmptyLike(C);
        Tensor? dD = D is null ? null : empty(D.size(0), dtype: f32, device: u.device);
        Tensor? dz = z is null ? null : TensorLayout.EmptyLike(z);
        Tensor? dBias = deltaBias is null ? null : empty(deltaBias.size(0), dtype: f32, device: u.device);
        Tensor? dInitial = initial is null ? null : empty(initial.size(0), initial.size(1), initial.size(2), dtype: f32, device: u.device);
        var dfinalContiguous = dfinal?.to_type(f32).contiguous();

        var grads = new NativeScanGrads
        {
            dout = TorchSharpNative.DataPointer(dout),
            dfinal_state = TorchSharpNative.DataPointer(dfinalContiguous, IntPtr.Zero),
            du = TorchSharpNative.DataPointer(du),
            ddelta = TorchSharpNative.DataPointer(ddelta),
            dA = TorchSharpNative.DataPointer(dA),
            dB = TorchSharpNative.DataPointer(dB),
            dC = TorchSharpNative.DataPointer(dC),
            dD = TorchSharpNative.DataPointer(dD, IntPtr.Zero),
            dz = TorchSharpNative.DataPointer(dz, IntPtr.Zero),
            ddelta_bias = TorchSharpNative.DataPointer(dBias, IntPtr.Zero),
            dinitial_state = TorchSharpNative.DataPointer(dInitial, IntPtr.Zero),
            checkpoints = TorchSharpNative.DataPointer(checkpoints, IntPtr.Zero),
        };
        TensorLayout.CopyStrides(dout, grads.dout_stride, 3);
        TensorLayout.CopyStrides(du, grads.du_stride, 3);
        TensorLayout.CopyStrides(ddelta, grads.ddelta_stride, 3);
        GroupStrides(dB, grads.dB_stride);
        GroupStrides(dC, grads.dC_stride);
        if (dz is not null) TensorLayout.CopyStrides(dz, grads.dz_stride, 3);
        int status = u.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_scan_bwd_cuda(&args, &grads, IntPtr.Zero)
            : NativeMethods.mamba_scan_bwd_cpu(&args, &grads);
        NativeMethods.Check(status, "selective scan backward");
        if (!ReferenceEquals(dfinalContiguous, dfinal)) dfinalContiguous?.Dispose();
        return new ScanTensors(du, ddelta, dA, dB, dC, dD, dz, dBias, dInitial);
    }

    private static NativeScanArgs MakeArgs(in ScanTensors inputs, SelectiveScanFunction.ScanSettings settings)
    {
        var (u, delta, A, B, C, D, z, deltaBias, initial) = inputs;
        var args = new NativeScanArgs
        {
            batch = u.size(0), dim = u.size(1), length = u.size(2), state = A.size(1),
            groups = B.dim() == 4 ? B.size(1) : 1,
            dtype = (int)TorchSharpNative.DType(u),
            bc_dtype = (int)TorchSharpNative.DType(B),
            delta_softplus = settings.DeltaSoftplus ? 1 : 0,
            deterministic = settings.Deterministic ? 1 : 0,
            u = TorchSharpNative.DataPointer(u),
            delta = TorchSharpNative.DataPointer(delta),
            A = TorchSharpNative.DataPointer(A),
            B = TorchSharpNative.DataPointer(B),
            C = TorchSharpNative.DataPointer(C),
            D = TorchSharpNative.DataPointer(D, IntPtr.Zero),
            z = TorchSharpNative.DataPointer(z, IntPtr.Zero),
            delta_bias = TorchSharpNative.DataPointer(deltaBias, IntPtr.Zero),
            initial_state = TorchSharpNative.DataPointer(initial, IntPtr.Zero),
        };
        TensorLayout.CopyStrides(u, args.u_stride, 3);
        TensorLayout.CopyStrides(delta, args.delta_stride, 3);
        TensorLayout.CopyStrides(A, args.A_stride, 2);
        GroupStrides(B, args.B_stride);
        GroupStrides(C, args.C_stride);
        if (z is not null) TensorLayout.CopyStrides(z, args.z_stride, 3);
        return args;
    }

    // B and C may be (batch, state, length): one group, so the group axis gets stride 0.
    private static void GroupStrides(Tensor t, long* target)
    {
        if (t.dim() == 4) { for (int i = 0; i < 4; i++) target[i] = t.stride(i); return; }
        target[0] = t.stride(0); target[1] = 0; target[2] = t.stride(1); target[3] = t.stride(2);
    }
}
