using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The exact math in plain TorchSharp operations (the shared operations, Mamba-1's <see cref="IMambaKernels"/> and
/// Mamba-2's <see cref="IMamba2Kernels"/>),
/// differentiable through autograd. It is the fallback
/// when no native kernel applies and the oracle the native kernels are tested against. Time is
/// processed in chunks so the (batch, chunk, channels, state) intermediates stay bounded; under
/// autograd the graph still keeps every chunk, so training memory grows with length here (the native
/// kernels recompute states instead).
/// </summary>
public sealed partial class ReferenceKernels : IMambaKernels
{
    /// <summary>Time steps per chunk.</summary>
    public int ChunkSize { get; }

    /// <summary>The reference kernels.</summary>
    /// <param name="chunkSize">Time steps the scan processes at once; larger is faster and holds more memory.</param>
    public ReferenceKernels(int chunkSize = 64)
    {
        if (chunkSize <= 0) throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "must be positive");
        ChunkSize = chunkSize;
    }

    /// <inheritdoc />
    public string Name => "reference";

    /// <inheritdoc />
    public (Tensor Output, Tensor? FinalState) SelectiveScan(
        Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? deltaBias,
        bool deltaSoftplus, Tensor? initialState = null, bool returnFinalState = false)
    {
        ScanShapes.Check(u, delta, A, B, C, D, z, deltaBias, initialState);
        using var scope = NewDisposeScope();
        var inputType = u.dtype;
        // fp64 stays fp64 (tests); everything else computes in fp32 like the kernels.
        var work = inputType == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        long batch = u.shape[0], dim = u.shape[1], length = u.shape[2], state = A.shape[1];

        var dt = delta.to_type(work);
        if (deltaBias is not null) dt = TorchScalars.Add(dt, deltaBias.to_type(work).unsqueeze(-1));
        if (deltaSoftplus) dt = TorchScalars.Softplus(dt); // torch's softplus is linear above 20, as mamba_ssm
        var uw = u.to_type(work);

        // B and C as (batch, groups, state, length); a chunk is widened to its channels only when needed.
        var Bg = B.dim() == 3 ? B.unsqueeze(1) : B;
        var Cg = C.dim() == 3 ? C.unsqueeze(1) : C;
        long groups = Bg.shape[1];
        Tensor ChunkOf(Tensor m, long start, long len)
        {
            var part = m.narrow(3, start, len).to_type(work).permute(0, 3, 1, 2);   // (batch, len, groups, state)
            if (groups == 1 || groups == dim) return part;                          // broadcasts as it is
            return part.unsqueeze(3).expand(batch, len, groups, dim / groups, state).reshape(batch, len, dim, state);
        }
        var Aw = A.to_type(work);

        var h = initialState is null
            ? zeros(batch, dim, state, dtype: work, device: u.device)
            : initialState.to_type(work);
        var outputs = new List<Tensor>();
        for (long start = 0; start < length; start += ChunkSize)
        {
            long len = Math.Min(ChunkSize, length - start);
            // (batch, dim, len) -> (batch, len, dim, 1) so a time step is one slice.
            var dtC = dt.narrow(2, start, len).permute(0, 2, 1).unsqueeze(-1);
            var uC = uw.narrow(2, start, len).permute(0, 2, 1).unsqueeze(-1);
            var bC = ChunkOf(Bg, start, len);                          // (batch, len, dim|1, state)
            var cC = ChunkOf(Cg, start, len);
            var decay = (dtC * Aw).exp();                              // (batch, len, dim, state)
            var drive = dtC * uC * bC;                                 // (batch, len, dim, state)
            var states = new Tensor[len];
            for (long t = 0; t < len; t++)
            {
                h = TorchScalars.AddProduct(drive.select(1, t), decay.select(1, t), h);
                states[t] = h;
            }
            var hs = stack(states, 1);                                  // (batch, len, dim, state)
            outputs.Add((hs * cC).sum(-1).permute(0, 2, 1));            // (batch, dim, len)
        }
        var y = cat(outputs, 2);
        if (D is not null) y = TorchScalars.Add(y, uw * D.to_type(work).unsqueeze(-1));
        if (z is not null) y = y * nn.functional.silu(z.to_type(work));
        var output = y.to_type(inputType).MoveToOuterDisposeScope();
        var final = returnFinalState ? h.MoveToOuterDisposeScope() : null;
        return (output, final);
    }

    /// <inheritdoc />
    public Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? bias, bool silu)
    {
        ScanShapes.CheckConv(x, weight, bias);
        using var scope = NewDisposeScope();
        long dim = x.shape[1], width = weight.shape[^1], length = x.shape[2];
        var w = weight.reshape(dim, 1, width).to_type(x.dtype);
        var y = nn.functional.conv1d(x, w, bias?.to_type(x.dtype), padding: width - 1, groups: dim)
            .narrow(2, 0, length);
        if (silu) y = nn.functional.silu(y);
        return y.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor DecodeStep(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights weights)
    {
        DecodeStepShapes.Check(x, z, convState, ssmState, weights);
        return ReferenceDecodeStep.Run(x, z, convState, ssmState, weights);
    }

    /// <inheritdoc />
    public Tensor RmsNorm(Tensor x, Tensor weight, double eps)
    {
        DecodeStepShapes.CheckRmsNorm(x, weight);
        using var scope = NewDisposeScope();
        // fp32 like Hugging Face's MambaRMSNorm; fp64 stays fp64, as in the scan, so fp64 tests keep their precision.
        var xw = x.to_type(x.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
        var normed = xw * TorchScalars.Add(TorchScalars.Square(xw).mean(new long[] { -1 }, keepdim: true), eps).rsqrt();
        return (weight * normed.to_type(x.dtype)).MoveToOuterDisposeScope();
    }
}
