using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// Runs a kernel's fused decode step and the fp64 <see cref="DecodeStepOracle"/> side by side for several tokens, each
/// carrying its own states, and compares outputs and both states; likewise RMSNorm against <see cref="RmsNormOracle"/>.
/// Shared by the CPU and CUDA tests and the reference's own tests.
/// </summary>
internal static class DecodeStepComparison
{
    /// <summary>Odd shapes: batch, inner, state, dt rank, conv width, gate, D skip, conv bias, strided views.</summary>
    public static TheoryData<int, int, int, int, int, bool, bool, bool, bool> OddShapes => new()
    {
        { 1, 1, 1, 1, 1, false, false, false, false },
        { 1, 37, 16, 3, 4, true, true, true, false },
        { 3, 5, 4, 1, 2, true, true, true, true },
        { 2, 130, 256, 9, 4, true, false, true, true },
        { 11, 64, 64, 20, 8, false, true, false, false },
    };

    public static void StepMatchesReference(IMambaKernels kernels, Device device, ScalarType dtype, int batch, int inner,
        int state, int rank, int width, bool gated, bool dSkip, bool convBias, bool strided, double rtol, double atol)
    {
        manual_seed(1000 + inner + state);
        Tensor Rand(double scale, params long[] shape) => (randn(shape) * scale).to(device);
        var weights = new DecodeStepWeights(
            ConvWeight: Rand(0.5, inner, 1, width),
            ConvBias: convBias ? Rand(0.3, inner) : null,
            XProjWeight: Rand(1 / Math.Sqrt(inner), rank + 2 * state, inner).to_type(dtype),
            DtProjWeight: Rand(1 / Math.Sqrt(rank), inner, rank).to_type(dtype),
            DtBias: (rand(inner) * 3 - 4).to(device),
            ALog: (rand(inner, state) * 2.5).to(device),
            D: dSkip ? Rand(1, inner) : null);
        // Strided: the conv state stored (batch, W, E) and seen as (batch, E, W); x and z as halves of one row.
        var convA = strided ? Rand(1, batch, width, inner).to_type(dtype).transpose(1, 2) : Rand(1, batch, inner, width).to_type(dtype);
        var ssmA = Rand(0.5, batch, inner, state);
        var oracle = new DecodeStepOracle(weights, TensorData.To3(convA), TensorData.To3(ssmA));
        using var _ = no_grad();
        for (int step = 0; step < 3; step++)
        {
            var xz = Rand(1, batch, 2 * inner + (strided ? 3 : 0)).to_type(dtype);
            var x = xz.narrow(1, 0, inner);
            Tensor? z = gated ? xz.narrow(1, inner, inner) : null;
            var actual = kernels.DecodeStep(x, z, convA, ssmA, weights);
            var expected = oracle.Step(TensorData.To2(x), z is null ? null : TensorData.To2(z));
            Assert.Equal(dtype, actual.dtype);
            TensorData.AssertClose(TensorData.Flat(actual), TensorData.Flat(expected), rtol, atol, $"output at step {step}");
            TensorData.AssertClose(TensorData.Flat(convA), TensorData.Flat(oracle.Conv), 0, 0, $"conv state at step {step}");
            TensorData.AssertClose(TensorData.Flat(ssmA), TensorData.Flat(oracle.Ssm), rtol, atol, $"SSM state at step {step}");
        }
    }

    public static void RmsNormMatchesReference(IMambaKernels kernels, Device device, ScalarType dtype, double rtol, double atol)
    {
        manual_seed(5);
        using var _ = no_grad();
        foreach (var shape in new[] { new long[] { 1, 1 }, new long[] { 3, 770 }, new long[] { 2, 5, 64 } })
        {
            var x = (randn(shape) * 2).to(dtype, device);
            var weight = (randn(shape[^1]) + 1).to(dtype, device);
            var actual = kernels.RmsNorm(x, weight, 1e-5);
            var expected = RmsNormOracle.Run(TensorData.Flat(x), TensorData.Flat(weight), 1e-5);
            Assert.Equal(dtype, actual.dtype);
            TensorData.AssertClose(TensorData.Flat(actual), expected, rtol, atol, $"RMSNorm of ({string.Join(", ", shape)})");
        }
    }
}
