using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>
/// The FFT convolution of the time-invariant ablation against the recurrence it replaces: the reference scan
/// with Δ, B and C broadcast over time (one group per channel), outputs and every gradient, in fp64.
/// </summary>
public class TimeInvariantConvolutionTests
{
    [Theory]
    [InlineData(2, 5, 1, 3, true)]      // one step
    [InlineData(2, 6, 37, 4, true)]     // length not a power of two
    [InlineData(1, 3, 64, 16, false)]   // no gate
    [InlineData(3, 4, 300, 8, true)]    // longer than the reference scan's chunk
    public void MatchesTheScanWithConstantDeltaBAndC(int batch, int channels, int length, int state, bool gated)
    {
        var g = new Generator(7);
        var f64 = ScalarType.Float64;
        Tensor Leaf(Tensor t) => t.to_type(f64).requires_grad_(true);
        var u = Leaf(randn(new long[] { batch, channels, length }, generator: g));
        var z = gated ? Leaf(randn(new long[] { batch, channels, length }, generator: g)) : null;
        var bias = Leaf(randn(new long[] { channels }, generator: g) - 2);
        var logA = Leaf(rand(new long[] { channels, state }, generator: g) * 2);
        var B = Leaf(randn(new long[] { channels, state }, generator: g));
        var C = Leaf(randn(new long[] { channels, state }, generator: g));
        var D = Leaf(randn(new long[] { channels }, generator: g));
        var dout = randn(new long[] { batch, channels, length }, generator: g).to_type(f64);
        var leaves = new List<Tensor> { u, bias, logA, B, C, D };
        if (z is not null) leaves.Add(z);

        var viaFft = TimeInvariantConvolution.Forward(u, bias, -logA.exp(), B, C, D, z);
        var fftGrads = autograd.grad(new List<Tensor> { viaFft }, leaves, new List<Tensor> { dout });

        var bTime = B.view(1, channels, state, 1).expand(batch, channels, state, length);
        var cTime = C.view(1, channels, state, 1).expand(batch, channels, state, length);
        var delta = zeros(1, 1, 1, dtype: f64).expand(batch, channels, length);
        var (viaScan, _) = new ReferenceKernels().SelectiveScan(u, delta, -logA.exp(), bTime, cTime, D, z, bias, deltaSoftplus: true);
        var scanGrads = autograd.grad(new List<Tensor> { viaScan }, leaves, new List<Tensor> { dout });

        Assert.True(allclose(viaFft, viaScan, rtol: 1e-9, atol: 1e-9), $"output differs by {(viaFft - viaScan).abs().max().item<double>():E2}");
        string[] names = { "u", "delta bias", "log A", "B", "C", "D", "z" };
        for (int i = 0; i < leaves.Count; i++)
        {
            double err = (fftGrads[i] - scanGrads[i]).abs().max().item<double>();
            Assert.True(allclose(fftGrads[i], scanGrads[i], rtol: 1e-8, atol: 1e-8), $"gradient of {names[i]} differs by {err:E2}");
        }
    }
}
