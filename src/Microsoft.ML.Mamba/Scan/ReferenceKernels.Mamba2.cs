using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

// Mamba-2's operations (IMamba2Kernels) in plain TorchSharp, differentiable through autograd: the SSD scan in its
// chunked (matrix) form, the decode step in its recurrent form, and, for tests, the scan in its recurrent form too.
// fp64 inputs are computed in fp64, everything else in fp32.
public sealed partial class ReferenceKernels : IMamba2Kernels
{
    /// <inheritdoc />
    /// <remarks>transformers' <c>MambaRMSNormGated</c> (one group) and mamba_ssm's <c>RMSNormGated</c>, in fp32 tensor ops.</remarks>
    public Tensor GatedRmsNorm(Tensor y, Tensor z, Tensor weight, long groups, double eps)
    {
        SsdShapes.CheckGatedRmsNorm(y, z, weight, groups);
        using var scope = NewDisposeScope();
        var work = WorkType(y.dtype);
        var h = y.to_type(work) * nn.functional.silu(z.to_type(work));
        long size = h.size(-1);
        var shape = h.shape;
        var grouped = groups == 1 ? h : h.reshape(shape[..^1].Append(groups).Append(size / groups).ToArray());
        var normed = grouped * TorchScalars.Add(TorchScalars.Square(grouped).mean(new long[] { -1 }, keepdim: true), eps).rsqrt();
        if (groups != 1) normed = normed.reshape(shape);
        return (weight * normed.to_type(y.dtype)).to_type(y.dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    /// <remarks>
    /// The chunked form of Dao &amp; Gu (2024, Sec. 6; mamba_ssm's <c>ssd_minimal</c>): within a chunk of Q steps the
    /// output is a masked (Q, Q) matrix product, C·Bᵀ weighted by the decay between the two steps (a segment sum of
    /// Δ·A, kept stable by summing only the steps between, never by subtracting prefix sums); each chunk's final state
    /// is passed to the next through the chunk's total decay, and read out by C decayed to each step. Memory is
    /// O(batch·heads·length·Q) here, so the chunk is capped at the length.
    /// </remarks>
    public (Tensor Output, Tensor? FinalState) StateSpaceDual(
        Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? dtBias, bool dtSoftplus,
        double dtMin, double dtMax, int chunkSize, Tensor? initialState = null, bool returnFinalState = false)
    {
        SsdShapes.Check(x, dt, A, B, C, D, dtBias, initialState, chunkSize, dtMin, dtMax);
        using var scope = NewDisposeScope();
        var work = WorkType(x.dtype);
        long batch = x.size(0), length = x.size(1), heads = x.size(2), headDim = x.size(3), state = B.size(3);
        long q = Math.Min(chunkSize, length), chunks = (length + q - 1) / q, padded = chunks * q;

        var delta = Delta(dt.to_type(work), dtBias, dtSoftplus, dtMin, dtMax);       // (b, L, H)
        var xw = x.to_type(work);
        var Bh = PerHead(B.to_type(work), heads);                                    // (b, L, H, N)
        var Ch = PerHead(C.to_type(work), heads);
        var dA = delta * A.to_type(work);                                            // (b, L, H)
        var xdt = xw * delta.unsqueeze(-1);                                          // (b, L, H, P)
        if (padded > length)
        {
            // Padded steps have Δ = 0: no decay and no input, so the final state is untouched.
            long pad = padded - length;
            dA = nn.functional.pad(dA, new long[] { 0, 0, 0, pad });
            xdt = nn.functional.pad(xdt, new long[] { 0, 0, 0, 0, 0, pad });
            Bh = nn.functional.pad(Bh, new long[] { 0, 0, 0, 0, 0, pad });
            Ch = nn.functional.pad(Ch, new long[] { 0, 0, 0, 0, 0, pad });
        }
        // Chunked, heads before time: (b, c, H, Q, ·).
        Tensor Chunked(Tensor t) => t.reshape(batch, chunks, q, heads, t.size(-1)).permute(0, 1, 3, 2, 4);
        var xc = Chunked(xdt);                                                       // (b, c, H, Q, P)
        var bc = Chunked(Bh);                                                        // (b, c, H, Q, N)
        var cc = Chunked(Ch);
        var a = dA.reshape(batch, chunks, q, heads).permute(0, 1, 3, 2);             // (b, c, H, Q)

        // decay[i, j] = exp(Σ_{k=j+1..i} dA[k]) for i ≥ j, else 0.
        var lower = ones(q, q, dtype: ScalarType.Bool, device: x.device).tril(-1);
        var causal = ones(q, q, dtype: ScalarType.Bool, device: x.device).tril(0);
        var repeated = a.unsqueeze(-1).expand(batch, chunks, heads, q, q);           // [i, j] = dA[i]
        using var zero = 0.0.ToScalar();
        using var minusInf = double.NegativeInfinity.ToScalar();
        var segment = repeated.masked_fill(lower.logical_not(), zero).cumsum(-2);
        var decay = segment.masked_fill(causal.logical_not(), minusInf).exp();       // (b, c, H, Q, Q)

        // Within chunks: y_diag = (C·Bᵀ ∘ decay) · (Δ·x).
        var yDiag = matmul(matmul(cc, bc.transpose(-1, -2)) * decay, xc);           // (b, c, H, Q, P)
        // Each chunk's own final state from its inputs, decayed to its last step: (b, c, H, P, N).
        var toEnd = decay.select(-2, q - 1).unsqueeze(-1);                           // (b, c, H, Q, 1)
        var chunkStates = matmul(xc.transpose(-1, -2), bc * toEnd);
        // Between chunks: the state entering each chunk, passed on through each chunk's total decay.
        var total = a.sum(-1).exp().unsqueeze(-1).unsqueeze(-1);                     // (b, c, H, 1, 1)
        var h = initialState is null
            ? zeros(batch, heads, headDim, state, dtype: work, device: x.device)
            : initialState.to_type(work);
        var entering = new Tensor[chunks];
        for (long k = 0; k < chunks; k++)
        {
            entering[k] = h;
            h = TorchScalars.AddProduct(chunkStates.select(1, k), total.select(1, k), h);
        }
        var statesIn = stack(entering, 1);                                           // (b, c, H, P, N)
        // The entering state read out by C at each step, decayed from the chunk's start: (b, c, H, Q, P).
        var fromStart = a.cumsum(-1).exp().unsqueeze(-1);
        var yOff = matmul(cc, statesIn.transpose(-1, -2)) * fromStart;

        var y = TorchScalars.Add(yDiag, yOff).permute(0, 1, 3, 2, 4).reshape(batch, padded, heads, headDim);
        if (padded > length) y = y.narrow(1, 0, length);
        if (D is not null) y = TorchScalars.Add(y, xw * D.to_type(work).view(heads, 1));
        var output = y.to_type(x.dtype).MoveToOuterDisposeScope();
        var final = returnFinalState ? h.MoveToOuterDisposeScope() : null;
        return (output, final);
    }

    /// <summary>
    /// The SSD scan as its recurrence, one step at a time (the definition in <see cref="IMamba2Kernels.StateSpaceDual"/>):
    /// slow, but plainly right, the form the chunked one is tested against.
    /// </summary>
    internal (Tensor Output, Tensor? FinalState) StateSpaceDualRecurrent(
        Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? dtBias, bool dtSoftplus,
        double dtMin, double dtMax, Tensor? initialState = null, bool returnFinalState = false)
    {
        SsdShapes.Check(x, dt, A, B, C, D, dtBias, initialState, 1, dtMin, dtMax);
        using var scope = NewDisposeScope();
        var work = WorkType(x.dtype);
        long batch = x.size(0), length = x.size(1), heads = x.size(2), headDim = x.size(3), state = B.size(3);
        var delta = Delta(dt.to_type(work), dtBias, dtSoftplus, dtMin, dtMax);       // (b, L, H)
        var xw = x.to_type(work);
        var Bh = PerHead(B.to_type(work), heads);
        var Ch = PerHead(C.to_type(work), heads);
        var decay = (delta * A.to_type(work)).exp();                                 // (b, L, H)
        var h = initialState is null
            ? zeros(batch, heads, headDim, state, dtype: work, device: x.device)
            : initialState.to_type(work);
        var outputs = new Tensor[length];
        for (long t = 0; t < length; t++)
        {
            var drive = (xw.select(1, t) * delta.select(1, t).unsqueeze(-1)).unsqueeze(-1) * Bh.select(1, t).unsqueeze(2);
            h = TorchScalars.AddProduct(drive, decay.select(1, t).view(batch, heads, 1, 1), h);
            outputs[t] = matmul(h, Ch.select(1, t).unsqueeze(-1)).squeeze(-1);      // (b, H, P)
        }
        var y = stack(outputs, 1);
        if (D is not null) y = TorchScalars.Add(y, xw * D.to_type(work).view(heads, 1));
        var output = y.to_type(x.dtype).MoveToOuterDisposeScope();
        var final = returnFinalState ? h.MoveToOuterDisposeScope() : null;
        return (output, final);
    }

    /// <inheritdoc />
    public Tensor StateSpaceDualStep(Tensor xBC, Tensor dt, Tensor convState, Tensor ssmState, Mamba2StepWeights weights)
    {
        SsdShapes.CheckStep(xBC, dt, convState, ssmState, weights);
        using var scope = NewDisposeScope();
        var f32 = ScalarType.Float32;
        long batch = xBC.size(0), channels = xBC.size(1), width = convState.size(2);
        long heads = weights.Heads, headDim = weights.HeadDim, groups = weights.Groups, state = weights.StateSize;
        long inner = heads * headDim, groupWidth = groups * state;

        // Conv: shift the window by one, append the new input (in the state's dtype), convolve, SiLU.
        var window = cat(new[] { convState.narrow(2, 1, width - 1), xBC.unsqueeze(-1).to_type(convState.dtype) }, 2);
        convState.copy_(window);
        var conv = (window.to_type(f32) * weights.ConvWeight.reshape(channels, width).to_type(f32)).sum(-1);
        if (weights.ConvBias is not null) conv = TorchScalars.Add(conv, weights.ConvBias.to_type(f32));
        var v = nn.functional.silu(conv);                                            // (b, K)
        var x = v.narrow(1, 0, inner).view(batch, heads, headDim);
        var Bg = PerHead(v.narrow(1, inner, groupWidth).view(batch, 1, groups, state), heads).squeeze(1); // (b, H, N)
        var Cg = PerHead(v.narrow(1, inner + groupWidth, groupWidth).view(batch, 1, groups, state), heads).squeeze(1);

        var delta = Delta(dt.to_type(f32).unsqueeze(1), weights.DtBias, true, weights.DtMin, weights.DtMax).squeeze(1); // (b, H)
        var A = -weights.ALog.to_type(f32).exp();
        var decay = (delta * A).exp().view(batch, heads, 1, 1);
        var drive = (x * delta.unsqueeze(-1)).unsqueeze(-1) * Bg.unsqueeze(2);       // (b, H, P, N)
        var h = TorchScalars.AddProduct(drive, decay, ssmState);
        ssmState.copy_(h);
        var y = matmul(h, Cg.unsqueeze(-1)).squeeze(-1);                             // (b, H, P)
        if (weights.D is not null) y = TorchScalars.Add(y, x * weights.D.to_type(f32).view(heads, 1));
        return y.reshape(batch, inner).to_type(xBC.dtype).MoveToOuterDisposeScope();
    }

    private static ScalarType WorkType(ScalarType input) => input == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    // Δ after its bias, softplus and clamp; (b, L, H) in, same shape out.
    private static Tensor Delta(Tensor dt, Tensor? dtBias, bool softplus, double dtMin, double dtMax)
    {
        if (dtBias is not null) dt = TorchScalars.Add(dt, dtBias.to_type(dt.dtype));
        if (softplus) dt = TorchScalars.Softplus(dt); // linear above 20, as torch and mamba_ssm
        // After softplus Δ is positive, so a zero lower bound clamps nothing; without softplus it does.
        if (!softplus || dtMin > 0)
        {
            using var min = dtMin.ToScalar();
            dt = dt.clamp_min(min);
        }
        if (!double.IsPositiveInfinity(dtMax))
        {
            using var max = dtMax.ToScalar();
            dt = dt.clamp_max(max);
        }
        return dt;
    }

    // (b, L, G, N) → (b, L, H, N): head h reads group h / (H / G).
    private static Tensor PerHead(Tensor grouped, long heads)
    {
        long batch = grouped.size(0), length = grouped.size(1), groups = grouped.size(2), state = grouped.size(3);
        if (groups == heads) return grouped;
        return grouped.unsqueeze(3).expand(batch, length, groups, heads / groups, state).reshape(batch, length, heads, state);
    }
}
