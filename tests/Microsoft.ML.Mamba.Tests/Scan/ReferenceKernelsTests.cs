using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The TorchSharp reference kernels against the fp64 oracles (Oracles/) and finite differences.</summary>
public class ReferenceKernelsTests
{
    public static TheoryData<int, int, int, int, int, bool, bool, bool, bool> Shapes => new()
    {
        // batch, dim, length, state, groups, z, D, initial state, softplus
        { 1, 1, 1, 1, 0, true, true, false, true },     // length 1
        { 2, 3, 7, 4, 0, true, true, false, true },     // shorter than a chunk
        { 2, 5, 13, 16, 0, false, false, false, true }, // crosses chunks of 5, no gate, no skip
        { 1, 6, 11, 4, 3, true, true, true, true },     // groups, initial state
        { 2, 4, 9, 3, 2, true, false, true, false },    // no softplus
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesTheOracleInFp64(int batch, int dim, int length, int state, int groups, bool z, bool dSkip,
        bool initial, bool softplus)
    {
        var c = ScanCase.Make(batch, dim, length, state, groups, z, dSkip, deltaBias: true, initial, softplus);
        var kernels = new ReferenceKernels(chunkSize: 5);
        var (output, final) = kernels.SelectiveScan(c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, c.Softplus,
            c.Initial, returnFinalState: true);
        var (expected, expectedFinal) = ScanOracle.Of(c).Forward();
        TensorData.AssertClose(TensorData.Flat(output), TensorData.Flat(expected), 1e-10, 1e-10, "output");
        TensorData.AssertClose(TensorData.Flat(final!), TensorData.Flat(expectedFinal), 1e-10, 1e-10, "final state");
    }

    [Fact]
    public void ChunkSizeDoesNotChangeTheResult()
    {
        var c = ScanCase.Make(2, 3, 50, 8, initial: true, dtype: ScalarType.Float32);
        var (a, fa) = new ReferenceKernels(7).SelectiveScan(c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, true, c.Initial, true);
        var (b, fb) = new ReferenceKernels(64).SelectiveScan(c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, true, c.Initial, true);
        TensorData.AssertClose(a, b, 1e-6, 1e-6, "output");
        TensorData.AssertClose(fa!, fb!, 1e-6, 1e-6, "final state");
        Assert.Equal(ScalarType.Float32, a.dtype);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(2, false)]
    public void GradientsMatchFiniteDifferences(int groups, bool softplus)
    {
        var c = ScanCase.Make(2, 4, 6, 3, groups, z: true, dSkip: true, deltaBias: true, initial: true, softplus: softplus);
        var inputs = c.Differentiable();
        foreach (var t in inputs) t.requires_grad_(true);
        var kernels = new ReferenceKernels(chunkSize: 4);
        var weights = randn(c.U.shape, dtype: ScalarType.Float64, generator: new Generator(3));
        var finalWeights = randn(c.Initial!.shape, dtype: ScalarType.Float64, generator: new Generator(4));
        Tensor Loss()
        {
            var (y, h) = kernels.SelectiveScan(c.U, c.Delta, c.A, c.B, c.C, c.D, c.Z, c.DeltaBias, c.Softplus, c.Initial, true);
            return (y * weights).sum() + (h! * finalWeights).sum();
        }
        Loss().backward();
        const double eps = 1e-6;
        for (int i = 0; i < inputs.Length; i++)
        {
            var analytic = TensorData.Flat(inputs[i].grad!);
            var numeric = new double[analytic.Length];
            using (no_grad())
            {
                var flat = inputs[i].view(-1);
                for (int k = 0; k < numeric.Length; k++)
                {
                    double saved = flat[k].item<double>();
                    flat[k] = saved + eps; double plus = Loss().item<double>();
                    flat[k] = saved - eps; double minus = Loss().item<double>();
                    flat[k] = saved;
                    numeric[k] = (plus - minus) / (2 * eps);
                }
            }
            TensorData.AssertClose(analytic, numeric, 1e-5, 1e-6, $"gradient of input {i}");
        }
    }

    [Theory]
    [InlineData(1, 4, 1, 4, true)]
    [InlineData(2, 5, 9, 4, true)]
    [InlineData(2, 3, 6, 2, false)]
    public void CausalConvMatchesTheOracle(int batch, int dim, int length, int width, bool silu)
    {
        var x = randn(batch, dim, length, dtype: ScalarType.Float64);
        var w = randn(dim, width, dtype: ScalarType.Float64);
        var bias = randn(dim, dtype: ScalarType.Float64);
        var y = new ReferenceKernels().CausalConv1d(x, w, bias, silu);
        var expected = ConvOracle.Forward(TensorData.To3(x), TensorData.To2(w), TensorData.Flat(bias), silu);
        TensorData.AssertClose(TensorData.Flat(y), TensorData.Flat(expected), 1e-12, 1e-12, "conv output");
    }

    // The fp32 reference, forward and autograd backward, as the native kernels are tested (KernelComparison).
    [Theory]
    [MemberData(nameof(KernelComparison.OddShapes), MemberType = typeof(KernelComparison))]
    public void Fp32ScanAndGradientsMatchTheOracle(int batch, int dim, int length, int state, int groups, bool z, bool dSkip,
        bool initial)
    {
        var c = ScanCase.Make(batch, dim, length, state, groups, z, dSkip, deltaBias: true, initial);
        KernelComparison.ScanMatchesReference(new ReferenceKernels(), CPU, ScalarType.Float32, c, 1e-4, 1e-4);
    }

    [Theory]
    [InlineData(2, 37, 130, 4, true)]
    [InlineData(2, 5, 9, 3, false)]
    public void Fp32ConvAndGradientsMatchTheOracle(int batch, int dim, int length, int width, bool silu) =>
        KernelComparison.ConvMatchesReference(new ReferenceKernels(), CPU, ScalarType.Float32, batch, dim, length, width, silu,
            1e-5, 1e-5);

    [Theory]
    [MemberData(nameof(DecodeStepComparison.OddShapes), MemberType = typeof(DecodeStepComparison))]
    public void DecodeStepMatchesTheOracle(int batch, int inner, int state, int rank, int width, bool gated, bool dSkip,
        bool convBias, bool strided) =>
        DecodeStepComparison.StepMatchesReference(new ReferenceKernels(), CPU, ScalarType.Float32, batch, inner, state, rank,
            width, gated, dSkip, convBias, strided, 1e-4, 1e-5);

    [Fact]
    public void RmsNormMatchesTheOracle()
    {
        DecodeStepComparison.RmsNormMatchesReference(new ReferenceKernels(), CPU, ScalarType.Float32, 1e-5, 1e-6);
        DecodeStepComparison.RmsNormMatchesReference(new ReferenceKernels(), CPU, ScalarType.BFloat16, 2e-2, 2e-2);
    }

    [Fact]
    public void BadShapesNameTheTensor()
    {
        var c = ScanCase.Make(2, 3, 5, 4);
        var e = Assert.Throws<ArgumentException>(() => new ReferenceKernels().SelectiveScan(
            c.U, c.Delta, c.A, c.B.narrow(2, 0, 4), c.C, c.D, c.Z, c.DeltaBias, true));
        Assert.Contains("B must be", e.Message);
        Assert.Contains("(2, 4, 4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => new ReferenceKernels().SelectiveScan(
            c.U, c.Delta, c.A, c.B, c.C, randn(4, dtype: ScalarType.Float64), c.Z, c.DeltaBias, true));
        Assert.Contains("D must be (3)", e.Message);
    }
}
