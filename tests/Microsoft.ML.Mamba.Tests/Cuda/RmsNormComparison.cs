using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>
/// The native CUDA RMSNorm against the reference kernels on CUDA, forward and backward through autograd, on random
/// inputs of one shape: the comparison CudaParityTests (odd row counts) and CudaTrainingShapesTests (model shapes) share.
/// </summary>
internal static class RmsNormComparison
{
    /// <summary>
    /// x and dy of <paramref name="shape"/>, a weight around 1 over its last axis, all from <paramref name="seed"/>:
    /// output, dx and dweight each within <paramref name="tolerance"/> of the largest reference value.
    /// </summary>
    public static void NativeMatchesReference(long[] shape, int seed, ScalarType dtype, double tolerance)
    {
        var g = new Generator((ulong)seed);
        var x0 = randn(shape, generator: g);
        var w0 = randn(new[] { shape[^1] }, generator: g) * 0.5 + 1;
        var dy0 = randn(shape, generator: g);
        Tensor[] Run(ISharedKernels kernels)
        {
            var x = x0.to(dtype).cuda().requires_grad_();
            var w = w0.to(dtype).cuda().requires_grad_();
            var y = kernels.RmsNorm(x, w, 1e-5);
            y.backward(new List<Tensor> { dy0.to(dtype).cuda() });
            cuda.synchronize();   // an illegal access shows here, at the kernels that made it
            return new[] { y.detach(), x.grad!, w.grad! }.Select(t => t.cpu().to_type(ScalarType.Float32)).ToArray();
        }
        var native = Run(new NativeKernels(new ThrowingKernels()));
        var reference = Run(new ReferenceKernels());
        string[] names = { "output", "dx", "dweight" };
        for (int i = 0; i < 3; i++)
        {
            double scale = reference[i].abs().max().item<float>();
            double error = (native[i] - reference[i]).abs().max().item<float>() / scale;
            Assert.True(error <= tolerance,
                $"{names[i]} ({dtype}, {string.Join("×", shape)}): max error {error:E2} of the largest value > {tolerance:E0}");
        }
    }
}
