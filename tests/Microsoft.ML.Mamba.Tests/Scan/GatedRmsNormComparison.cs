using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// Mamba-2's gated RMSNorm through some kernels on some device, forward and backward through autograd, against the
/// reference kernels in fp64 on the CPU (closed-form ops differentiated by libtorch): shared by the CPU and CUDA tests.
/// </summary>
internal static class GatedRmsNormComparison
{
    /// <summary>Output, dy, dz and dweight of one run, as fp64 arrays.</summary>
    public sealed record Result(double[] Output, double[] DY, double[] DZ, double[] DWeight);

    /// <summary>
    /// y, z and dout of <paramref name="shape"/> and a weight around 1, from <paramref name="seed"/>, in
    /// <paramref name="dtype"/> on <paramref name="device"/>; the weight in fp32 unless <paramref name="weightDtype"/>.
    /// </summary>
    public static Result Run(IMamba2Kernels kernels, Device device, ScalarType dtype, long[] shape, long groups, int seed,
        ScalarType weightDtype = ScalarType.Float32)
    {
        var g = new Generator((ulong)seed);
        var y0 = randn(shape, generator: g) * 2;
        var z0 = randn(shape, generator: g) * 2;
        var w0 = randn(new[] { shape[^1] }, generator: g) * 0.5 + 1;
        var d0 = randn(shape, generator: g);
        var y = y0.to(dtype).to(device).requires_grad_();
        var z = z0.to(dtype).to(device).requires_grad_();
        var w = w0.to(weightDtype).to(device).requires_grad_();
        var output = kernels.GatedRmsNorm(y, z, w, groups, 1e-5);
        Assert.Equal(dtype, output.dtype);
        output.backward(new List<Tensor> { d0.to(dtype).to(device) });
        if (device.type == DeviceType.CUDA) cuda.synchronize();  // an illegal access shows here, at the kernels that made it
        return new Result(TensorData.Flat(output), TensorData.Flat(y.grad!), TensorData.Flat(z.grad!), TensorData.Flat(w.grad!));
    }

    /// <summary>
    /// The kernels' result in <paramref name="dtype"/> against the fp64 reference on the same inputs (rounded to
    /// <paramref name="dtype"/> first): each within <paramref name="tolerance"/> of its largest reference value.
    /// </summary>
    public static Result MatchesReference(IMamba2Kernels kernels, Device device, ScalarType dtype, long[] shape, long groups,
        int seed, double tolerance, double gradTolerance)
    {
        var actual = Run(kernels, device, dtype, shape, groups, seed);
        var expected = RunOracle(dtype, shape, groups, seed);
        string what = $"{dtype}, {string.Join("×", shape)}, groups {groups}";
        SsdKernelComparison.AssertScaled(actual.Output, expected.Output, tolerance, $"output ({what})");
        SsdKernelComparison.AssertScaled(actual.DY, expected.DY, gradTolerance, $"dy ({what})");
        SsdKernelComparison.AssertScaled(actual.DZ, expected.DZ, gradTolerance, $"dz ({what})");
        SsdKernelComparison.AssertScaled(actual.DWeight, expected.DWeight, gradTolerance, $"dweight ({what})");
        return actual;
    }

    // The reference in fp64 on the inputs rounded to dtype, as Run draws them.
    private static Result RunOracle(ScalarType dtype, long[] shape, long groups, int seed)
    {
        var g = new Generator((ulong)seed);
        Tensor Draw(long[] s, double scale, double shift = 0) =>
            (randn(s, generator: g) * scale + shift).to(dtype).to_type(ScalarType.Float64).requires_grad_();
        var y = Draw(shape, 2);
        var z = Draw(shape, 2);
        var w = (randn(new[] { shape[^1] }, generator: g) * 0.5 + 1).to_type(ScalarType.Float64).requires_grad_();
        var d = randn(shape, generator: g).to(dtype).to_type(ScalarType.Float64);
        var output = new ReferenceKernels().GatedRmsNorm(y, z, w, groups, 1e-5);
        output.backward(new List<Tensor> { d });
        return new Result(TensorData.Flat(output), TensorData.Flat(y.grad!), TensorData.Flat(z.grad!), TensorData.Flat(w.grad!));
    }
}
