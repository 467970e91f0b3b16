using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// Argument checks of the Mamba-2 kernels (<see cref="IMamba2Kernels"/>), shared by every implementation, with messages
/// that name the tensor: shapes and settings here; dtype, device and emptiness through <see cref="KernelArguments"/>.
/// The native kernels trust these sizes, so a mismatch must stop here, not in memory. Uses size(i) rather than shape:
/// the step runs once per layer per token.
/// </summary>
internal static class SsdShapes
{
    /// <summary>The SSD scan: x (B, L, H, P), dt (B, L, H), A (H), B and C (B, L, G, N) with H divisible by G, D and
    /// dtBias (H) or null, initialState (B, H, P, N) or null; chunkSize ≥ 1; 0 ≤ dtMin ≤ dtMax, dtMin finite.</summary>
    public static void Check(Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? dtBias,
        Tensor? initialState, int chunkSize, double dtMin, double dtMax)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dt);
        ArgumentNullException.ThrowIfNull(A);
        ArgumentNullException.ThrowIfNull(B);
        ArgumentNullException.ThrowIfNull(C);
        if (x.dim() != 4) throw new ArgumentException($"x must be (batch, length, heads, head_dim), got {ScanShapes.Shape(x)}", nameof(x));
        KernelArguments.Check(x, nameof(x), x, nameof(x));
        long batch = x.size(0), length = x.size(1), heads = x.size(2), headDim = x.size(3);
        if (dt.dim() != 3 || dt.size(0) != batch || dt.size(1) != length || dt.size(2) != heads)
            throw new ArgumentException($"dt must be ({batch}, {length}, {heads}) for x {ScanShapes.Shape(x)}, got {ScanShapes.Shape(dt)}", nameof(dt));
        PerHead(A, nameof(A), heads);
        if (B.dim() != 4 || B.size(0) != batch || B.size(1) != length || B.size(2) <= 0 || heads % B.size(2) != 0)
            throw new ArgumentException(
                $"B must be ({batch}, {length}, groups, state) with {heads} heads divisible by groups, got {ScanShapes.Shape(B)}", nameof(B));
        long groups = B.size(2), state = B.size(3);
        if (C.dim() != 4 || C.size(0) != batch || C.size(1) != length || C.size(2) != groups || C.size(3) != state)
            throw new ArgumentException($"C must be ({batch}, {length}, {groups}, {state}) like B, got {ScanShapes.Shape(C)}", nameof(C));
        if (D is not null) PerHead(D, nameof(D), heads);
        if (dtBias is not null) PerHead(dtBias, nameof(dtBias), heads);
        if (initialState is not null && (initialState.dim() != 4 || initialState.size(0) != batch || initialState.size(1) != heads
                                         || initialState.size(2) != headDim || initialState.size(3) != state))
            throw new ArgumentException(
                $"initialState must be ({batch}, {heads}, {headDim}, {state}), got {ScanShapes.Shape(initialState)}", nameof(initialState));
        if (chunkSize < 1)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "chunkSize must be at least 1");
        CheckDtLimits(dtMin, dtMax);
        KernelArguments.Check(x, nameof(x), dt, nameof(dt));
        KernelArguments.Check(x, nameof(x), A, nameof(A));
        KernelArguments.Check(x, nameof(x), B, nameof(B));
        KernelArguments.Check(x, nameof(x), C, nameof(C));
        KernelArguments.Check(x, nameof(x), D, nameof(D));
        KernelArguments.Check(x, nameof(x), dtBias, nameof(dtBias));
        KernelArguments.Check(x, nameof(x), initialState, nameof(initialState));
    }

    /// <summary>The decode step: xBC (batch, H·P + 2·G·N), dt (batch, H), convState (batch, H·P + 2·G·N, W), ssmState
    /// (batch, H, P, N), and the weights' sizes against those.</summary>
    /// <summary>The gated RMSNorm: y (…, size), z shaped like y, weight (size), groups dividing size.</summary>
    public static void CheckGatedRmsNorm(Tensor y, Tensor z, Tensor weight, long groups)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(z);
        ArgumentNullException.ThrowIfNull(weight);
        if (y.dim() == 0) throw new ArgumentException($"y must have at least one axis, got {ScanShapes.Shape(y)}", nameof(y));
        KernelArguments.Check(y, nameof(y), y, nameof(y));
        long size = y.size(-1);
        if (!z.shape.SequenceEqual(y.shape))
            throw new ArgumentException($"z must be shaped like y {ScanShapes.Shape(y)}, got {ScanShapes.Shape(z)}", nameof(z));
        if (weight.dim() != 1 || weight.size(0) != size)
            throw new ArgumentException($"the gated norm's weight must be ({size}) like the last axis of y {ScanShapes.Shape(y)}, got {ScanShapes.Shape(weight)}", nameof(weight));
        if (groups <= 0 || size % groups != 0)
            throw new ArgumentOutOfRangeException(nameof(groups), groups, $"must be positive and divide the size {size}");
        KernelArguments.Check(y, nameof(y), z, nameof(z));
        KernelArguments.Check(y, nameof(y), weight, nameof(weight));
    }

    public static void CheckStep(Tensor xBC, Tensor dt, Tensor convState, Tensor ssmState, Mamba2StepWeights w)
    {
        ArgumentNullException.ThrowIfNull(xBC);
        ArgumentNullException.ThrowIfNull(dt);
        ArgumentNullException.ThrowIfNull(convState);
        ArgumentNullException.ThrowIfNull(ssmState);
        ArgumentNullException.ThrowIfNull(w);
        if (w.Heads < 1 || w.HeadDim < 1 || w.Groups < 1 || w.StateSize < 1 || w.Heads % w.Groups != 0)
            throw new ArgumentException(
                $"weights must have positive sizes with heads divisible by groups, got heads {w.Heads}, head_dim {w.HeadDim}, groups {w.Groups}, state {w.StateSize}", nameof(w));
        long heads = w.Heads, inner = w.Heads * w.HeadDim, channels = inner + 2 * w.Groups * w.StateSize;
        if (xBC.dim() != 2 || xBC.size(1) != channels)
            throw new ArgumentException($"xBC must be (batch, {channels}) = H·P + 2·G·N for these weights, got {ScanShapes.Shape(xBC)}", nameof(xBC));
        KernelArguments.Check(xBC, nameof(xBC), xBC, nameof(xBC));
        long batch = xBC.size(0);
        if (dt.dim() != 2 || dt.size(0) != batch || dt.size(1) != heads)
            throw new ArgumentException($"dt must be ({batch}, {heads}), got {ScanShapes.Shape(dt)}", nameof(dt));
        if (convState.dim() != 3 || convState.size(0) != batch || convState.size(1) != channels)
            throw new ArgumentException($"convState must be ({batch}, {channels}, width), got {ScanShapes.Shape(convState)}", nameof(convState));
        long width = convState.size(2);
        if (ssmState.dim() != 4 || ssmState.size(0) != batch || ssmState.size(1) != heads || ssmState.size(2) != w.HeadDim
            || ssmState.size(3) != w.StateSize)
            throw new ArgumentException(
                $"ssmState must be ({batch}, {heads}, {w.HeadDim}, {w.StateSize}), got {ScanShapes.Shape(ssmState)}", nameof(ssmState));
        if (w.ConvWeight.numel() != channels * width)
            throw new ArgumentException(
                $"conv weight must hold ({channels}, {width}) values like the conv state, got {ScanShapes.Shape(w.ConvWeight)}", nameof(w));
        if (w.ConvBias is not null && w.ConvBias.numel() != channels)
            throw new ArgumentException($"conv bias must hold {channels} values, got {ScanShapes.Shape(w.ConvBias)}", nameof(w));
        foreach (var (t, name) in new[] { (w.DtBias, "dt bias"), (w.ALog, "A_log"), (w.D, "D") })
            if (t is not null && t.numel() != heads)
                throw new ArgumentException($"{name} must hold {heads} values, got {ScanShapes.Shape(t)}", nameof(w));
        CheckDtLimits(w.DtMin, w.DtMax);
        KernelArguments.Check(xBC, nameof(xBC), dt, nameof(dt));
        KernelArguments.Check(xBC, nameof(xBC), convState, nameof(convState));
        KernelArguments.Check(xBC, nameof(xBC), ssmState, nameof(ssmState));
        foreach (var (t, name) in new[] { (w.ConvWeight, "conv weight"), (w.ConvBias, "conv bias"), (w.DtBias, "dt bias"), (w.ALog, "A_log"), (w.D, "D") })
            KernelArguments.Check(xBC, nameof(xBC), t, name);
    }

    private static void PerHead(Tensor t, string name, long heads)
    {
        if (t.dim() != 1 || t.size(0) != heads)
            throw new ArgumentException($"{name} must be ({heads}), one value per head, got {ScanShapes.Shape(t)}", name);
    }

    private static void CheckDtLimits(double dtMin, double dtMax)
    {
        if (double.IsNaN(dtMin) || double.IsInfinity(dtMin) || dtMin < 0)
            throw new ArgumentOutOfRangeException(nameof(dtMin), dtMin, "dtMin must be finite and at least 0");
        if (double.IsNaN(dtMax) || dtMax < dtMin)
            throw new ArgumentOutOfRangeException(nameof(dtMax), dtMax, $"dtMax must be at least dtMin ({dtMin})");
    }
}
