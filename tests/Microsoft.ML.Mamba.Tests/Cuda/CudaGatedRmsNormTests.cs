using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>The native CUDA gated RMSNorm of Mamba-2 (forward and backward) against the CPU fp64 reference, and its
/// run-to-run determinism. Run on the GPU machine with the CUDA build of libmamba_native.</summary>
[Trait("Category", "Cuda")]
public class CudaGatedRmsNormTests
{
    private static NativeKernels Native()
    {
        CudaRequirement.NativeCudaOrFail();
        return new NativeKernels(new ThrowingKernels());
    }

    public static TheoryData<long[], long> Shapes => new()
    {
        { new long[] { 1, 2 }, 1 },
        { new long[] { 3, 7, 40 }, 5 },        // groups of 8: blocks of 32 threads, most idle
        { new long[] { 2, 5, 300 }, 3 },       // groups of 100
        { new long[] { 3, 333, 1536 }, 1 },    // 999 rows, fewer than the backward's 1,056 blocks
        { new long[] { 4, 300, 1536 }, 4 },    // 1,200 rows: blocks walk more than one row
        { new long[] { 1, 12288 }, 1 },        // the largest size: 48 KB of dweight partials per block
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Fp32MatchesTheFp64Reference(long[] shape, long groups) =>
        GatedRmsNormComparison.MatchesReference(Native(), CUDA, ScalarType.Float32, shape, groups, seed: 1, 1e-5, 2e-5);

    [Theory]
    [InlineData(ScalarType.BFloat16, 1.6e-2, 3e-2)]
    [InlineData(ScalarType.Float16, 2e-3, 4e-3)]
    public void HalfDtypesMatchTheFp64Reference(ScalarType dtype, double tolerance, double gradTolerance)
    {
        GatedRmsNormComparison.MatchesReference(Native(), CUDA, dtype, new long[] { 8, 128, 1536 }, 1, seed: 2, tolerance, gradTolerance);
        GatedRmsNormComparison.MatchesReference(Native(), CUDA, dtype, new long[] { 4, 9, 96 }, 6, seed: 3, tolerance, gradTolerance);
    }

    [Fact]
    public void TensorsOffTheSixteenByteGridTakeTheElementPath()
    {
        // y, z and dout start one bf16 element into their buffers: contiguous, but not 16-byte aligned, so the kernels
        // must not use their vector loads. Compared with the same values in fresh (aligned) tensors.
        var kernels = Native();  // first: skips without CUDA
        long rows = 37, size = 1536;
        var g = new Generator(11);
        Tensor Shifted(Tensor t) => cat(new[] { zeros(1, dtype: t.dtype, device: t.device), t.flatten() }).narrow(0, 1, rows * size).view(rows, size);
        var y0 = randn(new[] { rows, size }, generator: g).to(ScalarType.BFloat16).cuda();
        var z0 = randn(new[] { rows, size }, generator: g).to(ScalarType.BFloat16).cuda();
        var d0 = randn(new[] { rows, size }, generator: g).to(ScalarType.BFloat16).cuda();
        var w = (randn(new[] { size }, generator: g) * 0.5 + 1).cuda();
        Tensor[] Run(Tensor y, Tensor z, Tensor d)
        {
            y = y.detach().requires_grad_();
            z = z.detach().requires_grad_();
            var ww = w.detach().clone().requires_grad_();
            var output = kernels.GatedRmsNorm(y, z, ww, 1, 1e-5);
            output.backward(new List<Tensor> { d });
            cuda.synchronize();
            return new[] { output, y.grad!, z.grad!, ww.grad! }.Select(t => t.detach().cpu().to_type(ScalarType.Float32)).ToArray();
        }
        var ys = Shifted(y0);
        Assert.True(ys.is_contiguous());
        var shifted = Run(ys, Shifted(z0), Shifted(d0));
        var aligned = Run(y0, z0, d0);
        string[] names = { "output", "dy", "dz", "dweight" };
        for (int i = 0; i < 4; i++)
            SsdKernelComparison.AssertScaled(TensorData.Flat(shifted[i]), TensorData.Flat(aligned[i]), 1e-2, $"{names[i]}, unaligned against aligned");
    }

    [Fact]
    public void RepeatedRunsAreBitwiseTheSame()
    {
        var shape = new long[] { 8, 200, 1536 };
        var first = GatedRmsNormComparison.Run(Native(), CUDA, ScalarType.BFloat16, shape, 1, seed: 4);
        var second = GatedRmsNormComparison.Run(Native(), CUDA, ScalarType.BFloat16, shape, 1, seed: 4);
        Assert.Equal(first.Output, second.Output);
        Assert.Equal(first.DY, second.DY);
        Assert.Equal(first.DZ, second.DZ);
        Assert.Equal(first.DWeight, second.DWeight);
    }
}
