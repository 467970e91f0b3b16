using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The fused native kernels (libmamba_native: CPU always, CUDA when built with nvcc), for the shared operations,
/// Mamba-1's (<see cref="IMambaKernels"/>) and Mamba-2's (<see cref="IMamba2Kernels"/>). Whatever they
/// cannot run (library missing, no CUDA build, fp64, state size or head_dim over 256, conv wider than 8) goes to the
/// reference implementation, with one logged warning per reason; for Mamba-2 the fallback must implement
/// <see cref="IMamba2Kernels"/>, else that is a <see cref="NotSupportedException"/>.
/// </summary>
/// <remarks>
/// Every entry checks its tensors before any native call (<see cref="ScanShapes"/>, <see cref="DecodeStepShapes"/>):
/// wrong shapes, non-floating dtypes, tensors on another device than the main input, and empty tensors (any zero-size
/// axis, batch and length included) throw <see cref="ArgumentException"/> naming the argument, as the reference does.
/// </remarks>
public sealed partial class NativeKernels : IMambaKernels
{
    private readonly IMambaKernels _fallback;

    /// <summary>Native kernels that hand what they cannot run to <paramref name="fallback"/>.</summary>
    /// <param name="fallback">Runs what the native kernels cannot; null means a new <see cref="ReferenceKernels"/>.</param>
    public NativeKernels(IMambaKernels? fallback = null) => _fallback = fallback ?? new ReferenceKernels();

    /// <inheritdoc />
    public string Name => "native";

    /// <summary>Backward without atomics, bitwise reproducible (CUDA; the CPU kernels always are).</summary>
    public bool Deterministic { get; set; }

    /// <summary>
    /// CUDA training: the scans' forwards keep states for their backwards, which then skip recomputing them, with the
    /// same gradients. Mamba-1's selective scan keeps the fp32 states its backward starts each 8-step chunk from (1/8
    /// of the full states, about 100 MB per layer at batch 8 × 1024 × 1536 channels and state 16; the recomputation
    /// pass is ~0.3 of the 1.7 ms backward at (8, 2048, 2048, 16) fp32 on an H200). Mamba-2's SSD keeps the state
    /// entering each 64-step chunk in the input dtype, with Δ and C·B (about 57 MB per layer for Mamba2-130m at batch
    /// 8 × 1024 in bf16). Off trades that time for memory.
    /// </summary>
    public bool KeepScanCheckpoints { get; set; } = true;

    /// <summary>Whether libmamba_native loaded in this process.</summary>
    public static bool IsAvailable => NativeLibraryLoader.IsLoaded;

    /// <summary>Whether the loaded library has CUDA kernels.</summary>
    public static bool HasCuda => NativeLibraryLoader.HasCuda;

    /// <inheritdoc />
    public (Tensor Output, Tensor? FinalState) SelectiveScan(
        Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? deltaBias,
        bool deltaSoftplus, Tensor? initialState = null, bool returnFinalState = false)
    {
        ScanShapes.Check(u, delta, A, B, C, D, z, deltaBias, initialState);
        string? reason = WhyNot(u.device_type, u.dtype) ?? (A.size(1) > 256 ? "state size over 256" : null)
            ?? (B.dtype != C.dtype ? "B and C of different dtypes" : null)
            ?? (u.device_type == DeviceType.CUDA && HasHugeTileStride(u, delta, z) ? "a channel or time stride of 2^23 elements or more" : null);
        if (reason is not null)
        {
            MambaLog.WarningOnce("scan:" + reason, $"native selective scan not used ({reason}); using the reference implementation");
            return _fallback.SelectiveScan(u, delta, A, B, C, D, z, deltaBias, deltaSoftplus, initialState, returnFinalState);
        }
        var f32 = ScalarType.Float32;
        // Small per-channel tensors go in as contiguous fp32, as the C ABI asks; big ones keep their strides.
        Tensor? Small(Tensor? t) => t?.to_type(f32).contiguous();
        var delta2 = delta.dtype == u.dtype ? delta : delta.to_type(u.dtype);
        var z2 = z is null || z.dtype == u.dtype ? z : z.to_type(u.dtype);
        var results = SelectiveScanFunction.Apply(
            new ScanTensors(u, delta2, A.to_type(f32), B, C, Small(D), z2, Small(deltaBias), Small(initialState)),
            new SelectiveScanFunction.ScanSettings(deltaSoftplus, Deterministic,
                KeepScanCheckpoints && is_grad_enabled() && NeedsGrad(u, delta, A, B, C, D, z, deltaBias, initialState)));
        if (returnFinalState) return (results[0], results[1]);
        results[1].Dispose();  // not wanted: free it now rather than at the end of the caller's dispose scope
        return (results[0], null);
    }

    /// <inheritdoc />
    public Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? bias, bool silu)
    {
        ScanShapes.CheckConv(x, weight, bias);
        string? reason = WhyNot(x.device_type, x.dtype) ?? (weight.size((int)weight.dim() - 1) > 8 ? "conv width over 8" : null);
        if (reason is not null)
        {
            MambaLog.WarningOnce("conv:" + reason, $"native causal conv1d not used ({reason}); using the reference implementation");
            return _fallback.CausalConv1d(x, weight, bias, silu);
        }
        var f32 = ScalarType.Float32;
        return CausalConv1dFunction.apply(x, weight.to_type(f32).contiguous(), bias?.to_type(f32).contiguous(), silu)[0];
    }

    /// <inheritdoc />
    public Tensor DecodeStep(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights weights)
    {
        DecodeStepShapes.Check(x, z, convState, ssmState, weights);
        var f32 = ScalarType.Float32;
        string? reason = WhyNot(x.device_type, x.dtype)
            ?? (weights.Selective ? null : "time-invariant mixer")
            ?? (ssmState.size(2) > 256 ? "state size over 256" : null)
            ?? (convState.size(2) > 8 ? "conv width over 8" : null)
            ?? (is_grad_enabled() && x.requires_grad ? "autograd (the native step has no backward)" : null)
            ?? (convState.dtype != x.dtype || weights.XProjWeight!.dtype != x.dtype || weights.DtProjWeight.dtype != x.dtype
                || (z is not null && z.dtype != x.dtype) ? "x, z, conv state, x_proj and dt_proj of different dtypes" : null)
            ?? (ssmState.dtype != f32 || !ssmState.is_contiguous() ? "SSM state not contiguous fp32" : null);
        if (reason is not null)
        {
            MambaLog.WarningOnce("step:" + reason, $"native decode step not used ({reason}); using the reference implementation");
            return _fallback.DecodeStep(x, z, convState, ssmState, weights);
        }
        using var scope = NewDisposeScope();
        var output = NativeDecodeStep.Run(x, z, convState, ssmState, SmallF32(weights.ConvWeight)!, SmallF32(weights.ConvBias),
            Contiguous(weights.XProjWeight!), Contiguous(weights.DtProjWeight), SmallF32(weights.DtBias),
            SmallF32(weights.ALog)!, SmallF32(weights.D));
        return output.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor RmsNorm(Tensor x, Tensor weight, double eps)
    {
        DecodeStepShapes.CheckRmsNorm(x, weight);
        if (is_grad_enabled() && NeedsGrad(x, weight))
        {
            // Training: the native autograd function on CUDA; on the CPU TorchSharp's differentiable ops by design
            // (not a fallback, so no warning).
            if (x.device_type == DeviceType.CUDA && WhyNot(x.device_type, x.dtype) is null && weight.dtype == x.dtype
                && x.size((int)x.dim() - 1) <= RmsNormFunction.MaxSize)
            {
                using var trainScope = NewDisposeScope();
                return RmsNormFunction.apply(Contiguous(x), Contiguous(weight), eps)[0].MoveToOuterDisposeScope();
            }
            return MambaKernels.Reference.RmsNorm(x, weight, eps);
        }
        string? reason = WhyNot(x.device_type, x.dtype) ?? (weight.dtype != x.dtype ? "weight and input of different dtypes" : null);
        if (reason is not null)
        {
            MambaLog.WarningOnce("norm:" + reason, $"native RMSNorm not used ({reason}); using the reference implementation");
            return _fallback.RmsNorm(x, weight, eps);
        }
        using var scope = NewDisposeScope();
        return NativeRmsNorm.Run(Contiguous(x), Contiguous(weight), eps).MoveToOuterDisposeScope();
    }

    // The C ABI takes small per-channel tensors as contiguous fp32; most already are, and then no copy is made.
    private static Tensor? SmallF32(Tensor? t) =>
        t is null || (t.dtype == ScalarType.Float32 && t.is_contiguous()) ? t : t.to_type(ScalarType.Float32).contiguous();

    private static Tensor Contiguous(Tensor t) => t.is_contiguous() ? t : t.contiguous();

    // The CUDA scan addresses its (channel, time) tiles with 32-bit offsets (native scan_api.cu, kMaxTileStride).
    private static bool HasHugeTileStride(params Tensor?[] tensors)
    {
        const long max = 1L << 23;
        foreach (var t in tensors)
        {
            if (t is null) continue;
            if (Math.Abs(t.stride(1)) >= max || Math.Abs(t.stride(2)) >= max) return true;
        }
        return false;
    }

    private static string? WhyNot(DeviceType device, ScalarType dtype)
    {
        if (!NativeLibraryLoader.IsLoaded) return $"libmamba_native unavailable: {NativeLibraryLoader.FailureReason}";
        if (device == DeviceType.CUDA && !NativeLibraryLoader.HasCuda) return "libmamba_native was built without CUDA";
        if (device is not (DeviceType.CPU or DeviceType.CUDA)) return $"device {device}";
        if (dtype == ScalarType.Float64 || !TorchSharpNative.IsSupported(dtype)) return $"dtype {dtype}";
        return null;
    }

    private static bool NeedsGrad(params Tensor?[] tensors) => tensors.Any(t => t is not null && t.requires_grad);
}
