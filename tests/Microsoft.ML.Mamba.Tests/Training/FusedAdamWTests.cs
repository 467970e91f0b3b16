using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Cuda;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Training;

/// <summary>The native AdamW step against TorchSharp's AdamW: same parameters and moments after several steps.</summary>
public class FusedAdamWTests
{
    [Fact]
    public void MatchesTorchSharpAdamWOnCpu()
    {
        Assert.True(NativeKernels.IsAvailable, "libmamba_native must load in the test run");
        double worst = MaxDifference(CPU, ScalarType.Float32, out string? fallback);
        Assert.Null(fallback);
        Assert.True(worst < 1e-6, $"fused and TorchSharp AdamW differ by {worst:E2}");
    }

    [Theory]
    [Trait("Category", "Cuda")]
    [InlineData(ScalarType.Float32, 1e-6)]
    [InlineData(ScalarType.BFloat16, 2e-2)] // TorchSharp rounds to bf16 after every operation; the kernel once
    public void MatchesTorchSharpAdamWOnCuda(ScalarType dtype, double tolerance)
    {
        CudaRequirement.NativeCudaOrFail();
        double worst = MaxDifference(CUDA, dtype, out string? fallback);
        Assert.Null(fallback);
        Assert.True(worst < tolerance, $"fused and TorchSharp AdamW differ by {worst:E2} ({dtype})");
    }

    [Fact]
    public void FallsBackForAmsgradWithTheSameResult()
    {
        var (a, b) = (Parameters(CPU, ScalarType.Float32), Parameters(CPU, ScalarType.Float32));
        using var fused = new FusedAdamW(new[] { new AdamW.ParamGroup(a, new AdamW.Options { LearningRate = 1e-2, amsgrad = true }) });
        using var plain = new AdamW(new[] { new AdamW.ParamGroup(b, new AdamW.Options { LearningRate = 1e-2, amsgrad = true }) });
        Steps(fused, a, 2);
        Steps(plain, b, 2);
        Assert.Equal("amsgrad or maximize", fused.LastFallbackReason);
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].allclose(b[i], rtol: 0, atol: 0));
    }

    // Largest difference, relative to the parameter's scale, between the two optimisers after 3 steps with
    // two groups (weight decay and none) and tensors past the kernels' 64K-element chunks.
    private static double MaxDifference(Device device, ScalarType dtype, out string? fallback)
    {
        var (a, b) = (Parameters(device, dtype), Parameters(device, dtype));
        AdamW.ParamGroup[] Groups(List<Parameter> p) => new[]
        {
            new AdamW.ParamGroup(p.Take(2), new AdamW.Options { LearningRate = 3e-3, weight_decay = 0.1 }),
            new AdamW.ParamGroup(p.Skip(2), new AdamW.Options { LearningRate = 1e-3, weight_decay = 0 }),
        };
        using var fused = new FusedAdamW(Groups(a), beta2: 0.99);
        using var plain = new AdamW(Groups(b), beta2: 0.99);
        Steps(fused, a, 3);
        Steps(plain, b, 3);
        fallback = fused.LastFallbackReason;
        double worst = 0;
        for (int i = 0; i < a.Count; i++)
        {
            using var diff = (a[i].to_type(ScalarType.Float64) - b[i].to_type(ScalarType.Float64)).abs().max();
            worst = Math.Max(worst, diff.item<double>() / (1e-3 + b[i].abs().max().to_type(ScalarType.Float64).item<double>()));
        }
        return worst;
    }

    private static List<Parameter> Parameters(Device device, ScalarType dtype)
    {
        var g = new Generator(5);
        long[][] shapes = { new long[] { 300, 250 }, new long[] { 7 }, new long[] { 1 }, new long[] { 65537 } };
        return shapes.Select(s => new Parameter(randn(s, generator: g).to(dtype).to(device))).ToList();
    }

    // Same pseudo-gradients for both optimisers: a fixed function of the step and the parameter's index.
    private static void Steps(optim.Optimizer optimizer, List<Parameter> parameters, int steps)
    {
        for (int s = 0; s < steps; s++)
        {
            optimizer.zero_grad();
            using (var scope = NewDisposeScope())
            {
                for (int i = 0; i < parameters.Count; i++)
                {
                    var p = parameters[i];
                    var target = full_like(p, 0.1 * (s + 1) * (i + 1));
                    ((p - target).pow(2).sum() * 0.5).backward();
                }
            }
            optimizer.step();
        }
    }
}
