using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

// Mamba-2's kernels (IMamba2Kernels) in libmamba_native: the chunked SSD scan with its backward, and the fused decode
// step. Whatever they cannot run (library missing, CUDA entries not built, fp64, head_dim or state over 256, conv wider
// than 8) goes to the fallback's Mamba-2 kernels with one logged warning per reason; a fallback without them is a
// NotSupportedException. (The type's doc comment is in NativeKernels.cs.)
public sealed partial class NativeKernels : IMamba2Kernels
{
    // Whether the loaded library's CUDA SSD entries are real kernels: a call with NULL arguments returns
    // MAMBA_ERR_INVALID_ARGUMENT from a kernel's checks, MAMBA_ERR_NOT_BUILT from a stub, and an older CUDA build may
    // lack the exports altogether. Asked once, on the first CUDA call; null means available.
    private static readonly Lazy<string?> s_cudaSsdMissing = new(() => ProbeCuda(scan: true));
    private static readonly Lazy<string?> s_cudaSsdStepMissing = new(() => ProbeCuda(scan: false));

    /// <inheritdoc />
    public (Tensor Output, Tensor? FinalState) StateSpaceDual(
        Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? dtBias, bool dtSoftplus,
        double dtMin, double dtMax, int chunkSize, Tensor? initialState = null, bool returnFinalState = false)
    {
        SsdShapes.Check(x, dt, A, B, C, D, dtBias, initialState, chunkSize, dtMin, dtMax);
        string? reason = WhyNot(x.device_type, x.dtype)
            ?? (x.size(3) > 256 ? "head_dim over 256" : null)
            ?? (B.size(3) > 256 ? "state size over 256" : null)
            ?? (x.device_type == DeviceType.CUDA ? s_cudaSsdMissing.Value : null);
        if (reason is not null)
            return Mamba2Fallback("ssd:" + reason, "SSD scan", reason).StateSpaceDual(
                x, dt, A, B, C, D, dtBias, dtSoftplus, dtMin, dtMax, chunkSize, initialState, returnFinalState);
        // x, dt, B and C share a dtype in the C ABI; the per-head tensors and the state go in as contiguous fp32.
        Tensor AsX(Tensor t) => t.dtype == x.dtype ? t : t.to_type(x.dtype);
        var results = StateSpaceDualFunction.Apply(
            new SsdTensors(x, AsX(dt), SmallF32(A)!, AsX(B), AsX(C), SmallF32(D), SmallF32(dtBias), SmallF32(initialState)),
            new StateSpaceDualFunction.SsdSettings(dtSoftplus, dtMin, dtMax, chunkSize, Deterministic,
                KeepScanCheckpoints && is_grad_enabled() && NeedsGrad(x, dt, A, B, C, D, dtBias, initialState)));
        if (returnFinalState) return (results[0], results[1]);
        results[1].Dispose();  // not wanted: free it now rather than at the end of the caller's dispose scope
        return (results[0], null);
    }

    /// <inheritdoc />
    public Tensor StateSpaceDualStep(Tensor xBC, Tensor dt, Tensor convState, Tensor ssmState, Mamba2StepWeights weights)
    {
        SsdShapes.CheckStep(xBC, dt, convState, ssmState, weights);
        string? reason = WhyNot(xBC.device_type, xBC.dtype)
            ?? (weights.HeadDim > 256 ? "head_dim over 256" : null)
            ?? (weights.StateSize > 256 ? "state size over 256" : null)
            ?? (convState.size(2) > 8 ? "conv width over 8" : null)
            ?? (is_grad_enabled() && (xBC.requires_grad || dt.requires_grad) ? "autograd (the native step has no backward)" : null)
            ?? (convState.dtype != xBC.dtype ? "xBC and conv state of different dtypes" : null)
            ?? (ssmState.dtype != ScalarType.Float32 || !ssmState.is_contiguous() ? "SSM state not contiguous fp32" : null)
            ?? (xBC.device_type == DeviceType.CUDA ? s_cudaSsdStepMissing.Value : null);
        if (reason is not null)
            return Mamba2Fallback("ssd-step:" + reason, "Mamba-2 decode step", reason)
                .StateSpaceDualStep(xBC, dt, convState, ssmState, weights);
        using var scope = NewDisposeScope();
        var output = NativeSsdStep.Run(xBC, dt.dtype == xBC.dtype ? dt : dt.to_type(xBC.dtype), convState, ssmState,
            SmallF32(weights.ConvWeight)!, SmallF32(weights.ConvBias), SmallF32(weights.DtBias), SmallF32(weights.ALog)!,
            SmallF32(weights.D), weights.Groups, weights.DtMin, weights.DtMax);
        return output.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor GatedRmsNorm(Tensor y, Tensor z, Tensor weight, long groups, double eps)
    {
        SsdShapes.CheckGatedRmsNorm(y, z, weight, groups);
        string? reason = WhyNot(y.device_type, y.dtype)
            ?? (y.size(-1) > GatedRmsNormFunction.MaxSize ? $"size over {GatedRmsNormFunction.MaxSize}" : null);
        if (reason is not null)
            return Mamba2Fallback("gated-norm:" + reason, "gated RMSNorm", reason).GatedRmsNorm(y, z, weight, groups, eps);
        using var scope = NewDisposeScope();
        // y and z share a dtype in the C ABI, the weight goes in as fp32; to_type keeps both differentiable.
        var zc = Contiguous(z.dtype == y.dtype ? z : z.to_type(y.dtype));
        var w = Contiguous(weight.dtype == ScalarType.Float32 ? weight : weight.to_type(ScalarType.Float32));
        var output = is_grad_enabled() && NeedsGrad(y, z, weight)
            ? GatedRmsNormFunction.apply(Contiguous(y), zc, w, groups, eps)[0]
            : GatedRmsNormFunction.Forward(Contiguous(y), zc, w, groups, eps);
        return output.MoveToOuterDisposeScope();
    }

    private IMamba2Kernels Mamba2Fallback(string key, string what, string reason)
    {
        if (_fallback is not IMamba2Kernels kernels)
            throw new NotSupportedException(
                $"the native {what} cannot run ({reason}) and the fallback kernels '{_fallback.Name}' ({_fallback.GetType().Name}) do not implement {nameof(IMamba2Kernels)}");
        MambaLog.WarningOnce(key, $"native {what} not used ({reason}); using the {_fallback.Name} implementation");
        return kernels;
    }

    private static unsafe string? ProbeCuda(bool scan)
    {
        try
        {
            int[] statuses = scan
                ? new[] { NativeMethods.mamba_ssd_fwd_cuda(null, null, IntPtr.Zero), NativeMethods.mamba_ssd_bwd_cuda(null, null, IntPtr.Zero) }
                : new[] { NativeMethods.mamba_ssd_step_cuda(null, IntPtr.Zero) };
            return statuses.Any(s => s == (int)NativeStatus.NotBuilt) ? "libmamba_native has no CUDA SSD kernels yet" : null;
        }
        catch (EntryPointNotFoundException)
        {
            return "libmamba_native lacks the CUDA SSD entry points";
        }
    }
}
