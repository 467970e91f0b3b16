using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>One SSD scan case: sizes, which optional inputs are present, and the layout of x, Δ, B and C.</summary>
/// <param name="InProjSlices">x | B | C | Δ as strided slices of one (batch, length, K) in_proj output, as the mixer
/// calls it; otherwise separate contiguous tensors.</param>
internal sealed record SsdCase(int Batch, int Length, int Heads, int HeadDim, int Groups, int State, bool D = true,
    bool DtBias = true, bool Initial = true, bool Softplus = true, double DtMax = double.PositiveInfinity,
    bool InProjSlices = false, int Seed = 1)
{
    public override string ToString() =>
        $"B={Batch} L={Length} H={Heads} P={HeadDim} G={Groups} N={State} D={D} bias={DtBias} init={Initial} softplus={Softplus} dtMax={DtMax} slices={InProjSlices}";
}

/// <summary>What one scan call under autograd produced, as flat fp64 arrays, and the fp64 oracle of its (rounded) inputs.</summary>
internal sealed record SsdResult(double[] Y, double[] Final, Dictionary<string, double[]> Grads, SsdOracle Oracle,
    double[,,,] LossY, double[,,,] LossFinal);

/// <summary>
/// Runs an SSD case through a kernel under test, forward and backward through autograd with a weighted sum of y and
/// the final state as the loss, and compares y, the final state and every gradient with <see cref="SsdOracle"/> on
/// the same inputs as the kernel saw them (rounded to its dtype).
/// </summary>
internal static class SsdKernelComparison
{
    /// <summary>Odd shapes: length 1, lengths off the chunk, chunk 1, P = 5, G = 3, N = 1, padded sizes.</summary>
    public static TheoryData<int, int, int, int, int, int, int, bool> OddShapes => new()
    {
        // batch, length, heads, head_dim, groups, state, chunk, in_proj slices
        { 1, 1, 1, 1, 1, 1, 64, false },
        { 2, 7, 3, 5, 3, 4, 64, true },
        { 2, 37, 4, 5, 2, 3, 8, false },
        { 1, 13, 2, 3, 1, 1, 1, true },
        { 2, 40, 6, 9, 3, 17, 16, true },
        { 1, 70, 2, 16, 1, 32, 64, false },
    };

    public static SsdResult Run(IMamba2Kernels kernels, Device device, ScalarType dtype, SsdCase c, int chunk)
    {
        var gen = new Generator((ulong)c.Seed);
        int B = c.Batch, L = c.Length, H = c.Heads, P = c.HeadDim, G = c.Groups, N = c.State;
        Tensor R(params long[] shape) => randn(shape, generator: gen);
        // Fresh leaves in the kernel's dtype and device.
        Tensor Leaf(Tensor t, ScalarType type) => t.to(type, device).detach().clone().requires_grad_(true);
        Tensor x, dt, Bm, Cm;
        Tensor? proj = null;
        if (c.InProjSlices)
        {
            long K = H * P + 2L * G * N + H + 3;  // x | B | C | dt, then unused columns
            var raw = R(B, L, K);
            raw.narrow(2, H * P + 2 * G * N, H).mul_(0.7);
            proj = Leaf(raw, dtype);
            x = proj.narrow(2, 0, H * P).view(B, L, H, P);
            Bm = proj.narrow(2, H * P, G * N).view(B, L, G, N);
            Cm = proj.narrow(2, H * P + G * N, G * N).view(B, L, G, N);
            dt = proj.narrow(2, H * P + 2 * G * N, H);
        }
        else
        {
            x = Leaf(R(B, L, H, P), dtype);
            dt = Leaf(R(B, L, H) * 0.7, dtype);
            Bm = Leaf(R(B, L, G, N) * 0.6, dtype);
            Cm = Leaf(R(B, L, G, N) * 0.6, dtype);
        }
        if (!c.Softplus)
        {
            using var _ = no_grad();
            dt.copy_(rand(new long[] { B, L, H }, generator: gen) * 0.5 + 0.05);
        }
        var f32 = ScalarType.Float32;
        var A = Leaf(-(rand(new long[] { H }, generator: gen) * 2 - 1).exp(), f32);
        var D = c.D ? Leaf(R(H), f32) : null;
        var bias = c.DtBias ? Leaf(R(H) * 0.5 - (c.Softplus ? 1.0 : 0.0), f32) : null;
        var init = c.Initial ? Leaf(R(B, H, P, N) * 0.5, f32) : null;
        // Loss weights representable in the dtype, so the gradient reaching the kernel is exactly the oracle's.
        var wy = R(B, L, H, P).to(dtype).to(f32);
        var wf = R(B, H, P, N);

        var (y, final) = kernels.StateSpaceDual(x, dt, A, Bm, Cm, D, bias, c.Softplus, 0, c.DtMax, chunk, init, true);
        ((y.to(f32) * wy.to(device)).sum() + (final!.to(f32) * wf.to(device)).sum()).backward();

        double[]? Opt(Tensor? t) => t is null ? null : TensorData.Flat(t);
        var oracle = new SsdOracle(TensorData.To4(x), TensorData.To3(dt), TensorData.Flat(A), TensorData.To4(Bm), TensorData.To4(Cm),
            Opt(D), Opt(bias), c.Softplus, init is null ? null : TensorData.To4(init), 0, c.DtMax);
        var grads = new Dictionary<string, double[]>();
        if (proj is not null)
        {
            var gp = proj.grad!;
            grads["dx"] = TensorData.Flat(gp.narrow(2, 0, H * P));
            grads["dB"] = TensorData.Flat(gp.narrow(2, H * P, G * N));
            grads["dC"] = TensorData.Flat(gp.narrow(2, H * P + G * N, G * N));
            grads["ddt"] = TensorData.Flat(gp.narrow(2, H * P + 2 * G * N, H));
            var unused = TensorData.Flat(gp.narrow(2, H * P + 2 * G * N + H, 3));
            Assert.All(unused, v => Assert.Equal(0.0, v));
        }
        else
        {
            grads["dx"] = TensorData.Flat(x.grad!);
            grads["dB"] = TensorData.Flat(Bm.grad!);
            grads["dC"] = TensorData.Flat(Cm.grad!);
            grads["ddt"] = TensorData.Flat(dt.grad!);
        }
        grads["dA"] = TensorData.Flat(A.grad!);
        if (D is not null) grads["dD"] = TensorData.Flat(D.grad!);
        if (bias is not null) grads["ddt_bias"] = TensorData.Flat(bias.grad!);
        if (init is not null) grads["dinitial_state"] = TensorData.Flat(init.grad!);
        return new SsdResult(TensorData.Flat(y), TensorData.Flat(final), grads, oracle, TensorData.To4(wy), TensorData.To4(wf));
    }

    /// <summary>Runs <paramref name="c"/> and checks everything against the oracle: each value within
    /// <paramref name="tolerance"/> × (|expected| + max |expected|) (gradients are sums whose terms cancel).
    /// <paramref name="headSumTolerance"/> (default: <paramref name="gradTolerance"/>) is for dA and ddt_bias, one sum
    /// per head over every step, where each step's rounding error survives while the terms cancel.</summary>
    public static SsdResult MatchesOracle(IMamba2Kernels kernels, Device device, ScalarType dtype, SsdCase c, int chunk,
        double tolerance, double gradTolerance, double? headSumTolerance = null)
    {
        var r = Run(kernels, device, dtype, c, chunk);
        var (y, final) = r.Oracle.Forward();
        var g = r.Oracle.Backward(r.LossY, r.LossFinal);
        AssertScaled(r.Y, TensorData.Flat(y), tolerance, $"y ({c})");
        AssertScaled(r.Final, TensorData.Flat(final), Math.Max(tolerance / 10, 2e-5), $"final state ({c})");
        var expected = new Dictionary<string, Array?>
        {
            ["dx"] = g.DX, ["ddt"] = g.DDt, ["dA"] = g.DA, ["dB"] = g.DB, ["dC"] = g.DC, ["dD"] = g.DD,
            ["ddt_bias"] = g.DDtBias, ["dinitial_state"] = g.DInitial,
        };
        foreach (var (name, e) in expected)
        {
            Assert.Equal(e is not null, r.Grads.ContainsKey(name));
            double t = name is "dA" or "ddt_bias" ? headSumTolerance ?? gradTolerance : gradTolerance;
            if (e is not null) AssertScaled(r.Grads[name], TensorData.Flat(e), t, $"{name} ({c})");
        }
        return r;
    }

    public static void AssertScaled(double[] actual, double[] expected, double tolerance, string what)
    {
        double scale = Math.Max(expected.Length == 0 ? 0 : expected.Max(Math.Abs), 1e-3);
        TensorData.AssertClose(actual, expected, tolerance, tolerance * scale, what);
    }
}
