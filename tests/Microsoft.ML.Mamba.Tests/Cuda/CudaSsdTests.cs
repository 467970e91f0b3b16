using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>The native CUDA Mamba-2 kernels (SSD scan, backward, decode step) against the CPU fp64 oracles. Run on the
/// GPU machine with the CUDA build of libmamba_native.</summary>
[Trait("Category", "Cuda")]
public class CudaSsdTests
{
    private static NativeKernels Native()
    {
        CudaRequirement.NativeCudaOrFail();
        return new NativeKernels(new ThrowingKernels());
    }

    [Theory]
    [MemberData(nameof(SsdKernelComparison.OddShapes), MemberType = typeof(SsdKernelComparison))]
    public void NativeCudaSsdMatchesOracleFp32(int batch, int length, int heads, int headDim, int groups, int state, int chunk, bool slices)
    {
        var k = Native();
        var c = new SsdCase(batch, length, heads, headDim, groups, state, InProjSlices: slices);
        SsdKernelComparison.MatchesOracle(k, CUDA, ScalarType.Float32, c, chunk, 1e-4, 1e-4);
    }

    // bf16's per-head sums (dA, ddt_bias): the kernels multiply bf16-rounded operands on the tensor cores where
    // mamba_ssm's Triton kernels do (scaled x, dy, B, C, the states, the decay-weighted scores), and each step's
    // 2^-9 relative rounding enters a reverse cumulative sum whose terms cancel. Measured 0.043 on this case (2026-12-07,
    // H100); test_ssd_cuda.cu's error model bounds these sums at 0.17 over 20 seeds of its cases.
    [Theory]
    [InlineData(ScalarType.Float16, 3e-3, 5e-3, 5e-3)]
    [InlineData(ScalarType.BFloat16, 2e-2, 3e-2, 0.1)]
    public void NativeCudaSsdMatchesOracleHalf(ScalarType dtype, double tolerance, double gradTolerance, double headSumTolerance)
    {
        var k = Native();
        var c = new SsdCase(2, 130, 4, 64, 1, 64, InProjSlices: true, Seed: 3);
        SsdKernelComparison.MatchesOracle(k, CUDA, dtype, c, 64, tolerance, gradTolerance, headSumTolerance);
    }

    [Fact]
    public void NativeCudaSsdClampAndOptionalInputsMatchOracle()
    {
        var k = Native();
        var c = new SsdCase(2, 21, 4, 5, 2, 6, D: false, DtBias: false, Initial: false, DtMax: 0.5, Seed: 4);
        SsdKernelComparison.MatchesOracle(k, CUDA, ScalarType.Float32, c, 8, 1e-4, 1e-4);
    }

    // The forward keeping its chunk states for the backward (KeepScanCheckpoints, on by default) against the backward
    // recomputing them: the same kernels compute the same values, so y, the final state and every gradient must be
    // bitwise the same (deterministic, so that the atomics' order cannot differ).
    [Theory]
    [InlineData(ScalarType.Float32, 2, 40, 6, 9, 3, 17, true)]
    [InlineData(ScalarType.BFloat16, 2, 130, 4, 64, 1, 64, true)]
    [InlineData(ScalarType.BFloat16, 1, 37, 4, 5, 2, 3, false)]
    [InlineData(ScalarType.Float16, 2, 70, 2, 16, 1, 32, false)]
    public void NativeCudaSsdKeptCheckpointsGiveTheRecomputedGradients(ScalarType dtype, int batch, int length, int heads,
        int headDim, int groups, int state, bool slices)
    {
        var c = new SsdCase(batch, length, heads, headDim, groups, state, InProjSlices: slices, Seed: 5);
        SsdResult RunWith(bool keep)
        {
            var k = Native();
            k.Deterministic = true;
            k.KeepScanCheckpoints = keep;
            return SsdKernelComparison.Run(k, CUDA, dtype, c, 64);
        }
        var kept = RunWith(true);
        var recomputed = RunWith(false);
        Assert.Equal(recomputed.Y, kept.Y);
        Assert.Equal(recomputed.Final, kept.Final);
        Assert.Equal(recomputed.Grads.Keys.Order(), kept.Grads.Keys.Order());
        foreach (var (name, values) in recomputed.Grads) Assert.True(values.SequenceEqual(kept.Grads[name]), $"{name} differs ({c})");
    }

    [Theory]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.BFloat16, false)]
    public void NativeCudaSsdStepMatchesOracle(ScalarType dtype, bool slices) =>
        SsdStepComparison.MatchesOracle(Native(), CUDA, dtype, slices, dtype == ScalarType.Float32 ? 2e-5 : 1e-2);
}
