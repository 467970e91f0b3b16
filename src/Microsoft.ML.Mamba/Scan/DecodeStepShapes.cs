using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// Argument checks of the decode step and RMSNorm, shared by every kernel implementation, with messages that
/// name the tensor. The native kernels trust these sizes, so a mismatch must stop here, not in memory.
/// Uses size(i) rather than shape: these run once per layer per token.
/// </summary>
internal static class DecodeStepShapes
{
    public static void Check(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights w)
    {
        if (x.dim() != 2) throw new ArgumentException($"x must be (batch, inner), got {ScanShapes.Shape(x)}", nameof(x));
        KernelArguments.Check(x, nameof(x), x, nameof(x));
        long batch = x.size(0), inner = x.size(1);
        if (z is not null && (z.dim() != 2 || z.size(0) != batch || z.size(1) != inner))
            throw new ArgumentException($"z must be ({batch}, {inner}) like x, got {ScanShapes.Shape(z)}", nameof(z));
        if (convState.dim() != 3 || convState.size(0) != batch || convState.size(1) != inner)
            throw new ArgumentException($"convState must be ({batch}, {inner}, width), got {ScanShapes.Shape(convState)}", nameof(convState));
        long width = convState.size(2);
        if (ssmState.dim() != 3 || ssmState.size(0) != batch || ssmState.size(1) != inner)
            throw new ArgumentException($"ssmState must be ({batch}, {inner}, state), got {ScanShapes.Shape(ssmState)}", nameof(ssmState));
        long state = ssmState.size(2);
        Expect(w.ALog, "A_log", inner, state);
        if (w.ConvWeight.numel() != inner * width)
            throw new ArgumentException($"conv weight must hold ({inner}, {width}) values like the conv state, got {ScanShapes.Shape(w.ConvWeight)}", nameof(w));
        if (w.DtProjWeight.dim() != 2 || w.DtProjWeight.size(0) != inner)
            throw new ArgumentException($"dt_proj weight must be ({inner}, rank), got {ScanShapes.Shape(w.DtProjWeight)}", nameof(w));
        if (w.XProjWeight is not null) Expect(w.XProjWeight, "x_proj weight", w.DtRank + 2 * state, inner);
        if (w.BConstant is not null) Expect(w.BConstant, "B", inner, state);
        if (w.CConstant is not null) Expect(w.CConstant, "C", inner, state);
        if (w.XProjWeight is null && (w.BConstant is null || w.CConstant is null))
            throw new ArgumentException("a time-invariant step (no x_proj weight) needs BConstant and CConstant", nameof(w));
        foreach (var (t, name) in new[] { (w.ConvBias, "conv bias"), (w.DtBias, "dt bias"), (w.D, "D") })
            if (t is not null && t.numel() != inner)
                throw new ArgumentException($"{name} must hold {inner} values, got {ScanShapes.Shape(t)}", nameof(w));
        KernelArguments.Check(x, nameof(x), z, nameof(z));
        KernelArguments.Check(x, nameof(x), convState, nameof(convState));
        KernelArguments.Check(x, nameof(x), ssmState, nameof(ssmState));
        foreach (var (t, name) in new[] { (w.ConvWeight, "conv weight"), (w.ConvBias, "conv bias"), (w.XProjWeight, "x_proj weight"),
                     (w.DtProjWeight, "dt_proj weight"), (w.DtBias, "dt bias"), (w.ALog, "A_log"), (w.D, "D"), (w.BConstant, "B"), (w.CConstant, "C") })
            KernelArguments.Check(x, nameof(x), t, name);
    }

    public static void CheckRmsNorm(Tensor x, Tensor weight)
    {
        long size = x.dim() == 0 ? 0 : x.size((int)x.dim() - 1);
        if (x.dim() == 0 || weight.dim() != 1 || weight.size(0) != size)
            throw new ArgumentException($"RMSNorm weight must be ({size}) like the last axis of x {ScanShapes.Shape(x)}, got {ScanShapes.Shape(weight)}", nameof(weight));
        KernelArguments.Check(x, nameof(x), x, nameof(x));
        KernelArguments.Check(x, nameof(x), weight, nameof(weight));
    }

    private static void Expect(Tensor t, string name, long rows, long columns)
    {
        if (t.dim() != 2 || t.size(0) != rows || t.size(1) != columns)
            throw new ArgumentException($"{name} must be ({rows}, {columns}), got {ScanShapes.Shape(t)}", name);
    }
}
