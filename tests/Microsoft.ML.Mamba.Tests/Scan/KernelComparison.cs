using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// Runs one selective-scan or conv case through a kernel under test, forward and backward through autograd, and
/// compares output, final state and every gradient with the fp64 oracles (<see cref="ScanOracle"/>,
/// <see cref="ConvOracle"/>) on the same inputs rounded to fp32.
/// </summary>
internal static class KernelComparison
{
    public static void ScanMatchesReference(IMambaKernels kernels, Device device, ScalarType dtype, ScanCase c64,
        double rtol, double atol)
    {
        var c32 = c64.To(ScalarType.Float32, CPU);
        // Weighted sums as the loss, so every output element and the final state carry a distinct gradient.
        var gen = new Generator(9);
        var wy = randn(c32.U.shape, dtype: ScalarType.Float32, generator: gen);
        var wh = randn(new[] { c32.U.shape[0], c32.U.shape[1], c32.A.shape[1] }, dtype: ScalarType.Float32, generator: gen);
        var oracle = ScanOracle.Of(c32);
        var (expected, expectedFinal) = oracle.Forward();
        var g = oracle.Backward(TensorData.To3(wy), TensorData.To3(wh));

        var c = c64.To(dtype, device);
        var inputs = new (string Name, Tensor? Input, Array? Expected)[]
        {
            ("du", c.U, g.DU), ("ddelta", c.Delta, g.DDelta), ("dA", c.A, g.DA), ("dB", c.B, g.DB), ("dC", c.C, g.DC),
            ("dD", c.D, g.DD), ("dz", c.Z, g.DZ), ("ddelta_bias", c.DeltaBias, g.DDeltaBias), ("dinitial_state", c.Initial, g.DInitial),
        };
        foreach (var (_, t, _) in inputs) t?.requires_grad_(true);
        var (y, h) = kernels.SelectiveScan(c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, c.Softplus, c.Initial, true);
        ((y.to_type(ScalarType.Float32) * wy.to(device)).sum() + (h!.to_type(ScalarType.Float32) * wh.to(device)).sum()).backward();

        TensorData.AssertClose(TensorData.Flat(y), TensorData.Flat(expected), rtol, atol, "output");
        TensorData.AssertClose(TensorData.Flat(h), TensorData.Flat(expectedFinal), rtol, atol, "final state");
        foreach (var (name, t, e) in inputs)
            if (t is not null) TensorData.AssertClose(TensorData.Flat(t.grad!), TensorData.Flat(e!), rtol, atol, name);
    }

    public static void ConvMatchesReference(IMambaKernels kernels, Device device, ScalarType dtype,
        int batch, int dim, int length, int width, bool silu, double rtol, double atol)
    {
        var gen = new Generator(5);
        var x = randn(new long[] { batch, dim, length }, generator: gen);
        var w = randn(new long[] { dim, width }, generator: gen);
        var b = randn(new long[] { dim }, generator: gen);
        var gy = randn(new long[] { batch, dim, length }, generator: gen);
        var (x64, w64, b64) = (TensorData.To3(x), TensorData.To2(w), TensorData.Flat(b));
        var expected = ConvOracle.Forward(x64, w64, b64, silu);
        var (dx, dw, db) = ConvOracle.Backward(x64, w64, b64, silu, TensorData.To3(gy));

        // Fresh leaves: .to() on the same device returns the tensor itself, which would share .grad.
        Tensor Leaf(Tensor source, ScalarType type) => source.to(type, device).detach().clone().requires_grad_(true);
        var xi = Leaf(x, dtype); var wi = Leaf(w, ScalarType.Float32); var bi = Leaf(b, ScalarType.Float32);
        var y = kernels.CausalConv1d(xi, wi, bi, silu);
        (y.to_type(ScalarType.Float32) * gy.to(device)).sum().backward();
        TensorData.AssertClose(TensorData.Flat(y), TensorData.Flat(expected), rtol, atol, "conv output");
        TensorData.AssertClose(TensorData.Flat(xi.grad!), TensorData.Flat(dx), rtol, atol, "conv dx");
        TensorData.AssertClose(TensorData.Flat(wi.grad!), TensorData.Flat(dw), rtol, atol, "conv dweight");
        TensorData.AssertClose(TensorData.Flat(bi.grad!), db, rtol, atol, "conv dbias");
    }

    /// <summary>Odd shapes: length 1, lengths off any chunk size, channels off any block size, groups, N up to 256.</summary>
    public static TheoryData<int, int, int, int, int, bool, bool, bool> OddShapes => new()
    {
        // batch, dim, length, state, groups, z, D, initial state
        { 1, 1, 1, 1, 0, true, true, false },
        { 2, 3, 7, 4, 0, true, true, true },
        { 2, 37, 130, 16, 0, true, true, false },
        { 1, 20, 67, 64, 0, false, false, true },
        { 2, 12, 33, 16, 3, true, true, false },
        { 1, 5, 300, 16, 0, true, false, false },
        { 1, 3, 9, 256, 0, true, true, true },
    };
}
