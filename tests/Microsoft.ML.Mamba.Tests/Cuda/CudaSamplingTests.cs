using TorchSharp;
using Microsoft.ML.Mamba.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>Seeded sampling on a CUDA device: it runs (TorchSharp's generators are CPU ones) and draws what the CPU draws.</summary>
[Trait("Category", "Cuda")]
public class CudaSamplingTests
{
    [Fact]
    public void SeededSamplingOnCudaDrawsTheSameTokensAsOnTheCpu()
    {
        CudaRequirement.DeviceOrSkip();
        var options = new SamplingOptions { Temperature = 1f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.2f, Seed = 7 };
        using var logitsCpu = randn(3, 37, generator: new TorchSharp.torch.Generator(11)) * 3;
        using var logitsCuda = logitsCpu.cuda();
        using var cpu = new TokenSampler(options, batchSize: 3, vocabularySize: 37);
        using var cuda = new TokenSampler(options, batchSize: 3, vocabularySize: 37, CUDA);
        for (int step = 0; step < 8; step++)
        {
            using var a = cpu.Next(logitsCpu);
            using var b = cuda.Next(logitsCuda);
            Assert.Equal(DeviceType.CUDA, b.device_type);
            Assert.Equal(a.data<long>().ToArray(), b.cpu().data<long>().ToArray());
        }
    }
}
