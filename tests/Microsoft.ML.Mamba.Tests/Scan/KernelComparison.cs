using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// Runs one selective-scan case through a kernel under test and through the fp32 reference on the CPU,
/// forward and backward, and compares output, final state and every gradient.
/// </summary>
internal static class KernelComparison
{
    public static void ScanMatchesReference(IMambaKernels kernels, Device device, ScalarType dtype, ScanCase c64,
        double rtol, double atol)
    {
        var reference = new ReferenceKernels();
        var (expected, expectedGrads) = Run(reference, c64.To(ScalarType.Float32, CPU), seed: 9);
        var (actual, actualGrads) = Run(kernels, c64.To(dtype, device), seed: 9);
        TensorData.AssertClose(actual.Output, expected.Output, rtol, atol, "output");
        TensorData.AssertClose(actual.Final, expected.Final, rtol, atol, "final state");
        string[] names = { "du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "dinitial_state" };
        for (int i = 0; i < expectedGrads.Length; i++)
            TensorData.AssertClose(actualGrads[i], expectedGrads[i], rtol, atol, names[i]);
    }

    private static ((Tensor Output, Tensor Final), Tensor[]) Run(IMambaKernels kernels, ScanCase c, int seed)
    {
        var inputs = new Tensor?[] { c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, c.Initial };
        foreach (var t in inputs) t?.requires_grad_(true);
        var (y, h) = kernels.SelectiveScan(c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, c.Softplus, c.Initial, true);
        // Weighted sums so every output element and the final state carry a distinct gradient.
        var gen = new Generator((ulong)seed);
        var wy = randn(y.shape, dtype: ScalarType.Float32, generator: gen).to(y.device);
        var wh = randn(h!.shape, dtype: ScalarType.Float32, generator: gen).to(h.device);
        ((y.to_type(ScalarType.Float32) * wy).sum() + (h.to_type(ScalarType.Float32) * wh).sum()).backward();
        var grads = inputs.Where(t => t is not null).Select(t => t!.grad!.cpu().to_type(ScalarType.Float32)).ToArray();
        return ((y.detach().cpu().to_type(ScalarType.Float32), h.detach().cpu()), grads);
    }

    public static void ConvMatchesReference(IMambaKernels kernels, Device device, ScalarType dtype,
        int batch, int dim, int length, int width, bool silu, double rtol, double atol)
    {
        var gen = new Generator(5);
        var x = randn(new long[] { batch, dim, length }, generator: gen);
        var w = randn(new long[] { dim, width }, generator: gen);
        var b = randn(new long[] { dim }, generator: gen);
        var gy = randn(new long[] { batch, dim, length }, generator: gen);
        (Tensor, Tensor, Tensor, Tensor) Run(IMambaKernels k, Device d, ScalarType t)
        {
            // Fresh leaves every run: .to() on the same device returns the tensor itself, which would share .grad.
            Tensor Leaf(Tensor source, ScalarType type) => source.to(type, d).detach().clone().requires_grad_(true);
            var xi = Leaf(x, t); var wi = Leaf(w, ScalarType.Float32); var bi = Leaf(b, ScalarType.Float32);
            var y = k.CausalConv1d(xi, wi, bi, silu);
            (y.to_type(ScalarType.Float32) * gy.to(d)).sum().backward();
            Tensor Copy(Tensor g) => g.detach().cpu().to_type(ScalarType.Float32).clone();
            return (Copy(y), Copy(xi.grad!), Copy(wi.grad!), Copy(bi.grad!));
        }
        var e = Run(new ReferenceKernels(), CPU, ScalarType.Float32);
        var a = Run(kernels, device, dtype);
        TensorData.AssertClose(a.Item1, e.Item1, rtol, atol, "conv output");
        TensorData.AssertClose(a.Item2, e.Item2, rtol, atol, "conv dx");
        TensorData.AssertClose(a.Item3, e.Item3, rtol, atol, "conv dweight");
        TensorData.AssertClose(a.Item4, e.Item4, rtol, atol, "conv dbias");
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
