using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// Several Mamba-2 decoding steps in a row through a kernel under test (conv and SSM states carried in place), each
/// compared with <see cref="SsdStepOracle"/>: the output, the SSM state, and the conv window exactly.
/// </summary>
internal static class SsdStepComparison
{
    /// <param name="slices">xBC and Δ as slices of one in_proj row, and the conv state in (batch, width, K) storage;
    /// otherwise contiguous tensors.</param>
    public static void MatchesOracle(IMamba2Kernels kernels, Device device, ScalarType dtype, bool slices, double tolerance)
    {
        const int Batch = 2, H = 6, P = 5, G = 3, N = 4, W = 4, K = H * P + 2 * G * N;
        var gen = new Generator(21);
        Tensor R(params long[] shape) => randn(shape, generator: gen);
        var f32 = ScalarType.Float32;
        var cpuWeights = new Mamba2StepWeights(H, P, G, N, R(K, 1, W) * 0.5, R(K) * 0.3, R(H) * 0.5 - 1,
            rand(new long[] { H }, generator: gen) * 2 - 1, R(H), DtMin: 0.0, DtMax: 0.6);
        Tensor? On(Tensor? t) => t?.to(device);
        var weights = cpuWeights with
        {
            ConvWeight = On(cpuWeights.ConvWeight)!, ConvBias = On(cpuWeights.ConvBias), DtBias = On(cpuWeights.DtBias),
            ALog = On(cpuWeights.ALog)!, D = On(cpuWeights.D),
        };
        var conv = slices ? empty(new long[] { Batch, W, K }, dtype: dtype, device: device).transpose(1, 2) : empty(new long[] { Batch, K, W }, dtype: dtype, device: device);
        conv.copy_(R(Batch, K, W));
        var ssm = (R(Batch, H, P, N) * 0.5).to(f32, device);
        var oracle = new SsdStepOracle(cpuWeights, TensorData.To3(conv), TensorData.To4(ssm));
        using var _ = no_grad();
        for (int step = 0; step < 3; step++)
        {
            var row = R(Batch, K + H + 2).to(dtype, device);
            var xBC = row.narrow(1, 0, K);
            var dt = row.narrow(1, K, H);
            if (!slices) (xBC, dt) = (xBC.contiguous(), dt.contiguous());
            var expected = oracle.Step(TensorData.To2(xBC), TensorData.To2(dt));
            var output = kernels.StateSpaceDualStep(xBC, dt, conv, ssm, weights);
            Assert.Equal(dtype, output.dtype);
            SsdKernelComparison.AssertScaled(TensorData.Flat(output), TensorData.Flat(expected), tolerance, $"step {step} output");
            SsdKernelComparison.AssertScaled(TensorData.Flat(ssm), TensorData.Flat(oracle.Ssm), 2e-5, $"step {step} SSM state");
            Assert.Equal(TensorData.Flat(oracle.Conv), TensorData.Flat(conv));
        }
    }
}
