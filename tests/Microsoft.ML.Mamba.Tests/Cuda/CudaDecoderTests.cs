using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static Microsoft.ML.Mamba.Tests.Cuda.NativeDecoderComparison;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>
/// The native whole-model CUDA decoder (CudaDecoder) against the TorchSharp step it replaces: the same greedy tokens
/// through GenerationLoop, close logits step by step, the graph replay equal to plain launches. Run on the GPU machine.
/// </summary>
[Trait("Category", "Cuda")]
public class CudaDecoderTests
{
    // name -> config: the odd shapes the brief asks for, a shape that takes the scalar (unaligned) loads, one with
    // biases and a bf16-rounded residual, and a wide one that takes the warp-per-row kernels and multi-row blocks.
    private static MambaConfig Config(string name) => name switch
    {
        "odd" => new MambaConfig { VocabSize = 101, HiddenSize = 48, NumHiddenLayers = 3, InitializerRange = 0.5 },
        "unaligned" => new MambaConfig { VocabSize = 101, HiddenSize = 44, NumHiddenLayers = 2, StateSize = 5, ConvKernel = 3, InitializerRange = 0.5 },
        "biases" => new MambaConfig { VocabSize = 97, HiddenSize = 40, NumHiddenLayers = 2, UseBias = true, ResidualInFp32 = false, InitializerRange = 0.5 },
        "wide" => new MambaConfig { VocabSize = 33000, HiddenSize = 64, IntermediateSize = 1024, NumHiddenLayers = 2, InitializerRange = 0.5 },
        _ => throw new ArgumentException(name),
    };

    private static MambaForCausalLM Model(string name, ScalarType dtype, int seed = 3)
    {
        var model = TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(Config(name), CUDA));
        if (name == "biases")
            using (no_grad())
                foreach (var layer in model.Backbone.layers)
                {
                    var m = (MambaMixer)layer.mixer;
                    m.in_proj.bias!.normal_(0, 0.1);
                    m.out_proj.bias!.normal_(0, 0.1);
                }
        if (dtype != ScalarType.Float32) model.to(dtype);
        model.eval();
        return model;
    }

    [Theory]
    [InlineData("odd", ScalarType.Float32, 1)]
    [InlineData("odd", ScalarType.Float32, 3)]
    [InlineData("odd", ScalarType.BFloat16, 1)]
    [InlineData("odd", ScalarType.BFloat16, 3)]
    [InlineData("unaligned", ScalarType.Float32, 2)]
    [InlineData("biases", ScalarType.BFloat16, 3)]
    [InlineData("wide", ScalarType.Float32, 5)]
    [InlineData("wide", ScalarType.BFloat16, 9)]
    public void GreedyTokensMatchTheTorchSharpStep(string shape, ScalarType dtype, int batch)
    {
        CudaRequirement.NativeCudaOrFail();
        AssertGreedyTokensMatch(Model(shape, dtype), dtype, batch);
    }

    [Theory]
    [InlineData("odd", ScalarType.Float32, 2e-4)]
    [InlineData("odd", ScalarType.BFloat16, 6e-2)]
    [InlineData("wide", ScalarType.BFloat16, 6e-2)]
    public void LogitsStayCloseToTheTorchSharpStepTeacherForced(string shape, ScalarType dtype, double tolerance)
    {
        CudaRequirement.NativeCudaOrFail();
        AssertTeacherForcedLogitsClose(Model(shape, dtype), tolerance);
    }

    [Fact]
    public void GraphReplayGivesTheBitsOfPlainLaunchesAndIdsOutsideTheVocabularyAreReported()
    {
        CudaRequirement.NativeCudaOrFail();
        AssertGraphReplayMatchesPlainLaunches(Model("odd", ScalarType.BFloat16));
    }

    [Fact]
    public void GreedyChoiceStaysInsideTheTokenizersVocabulary()
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model("odd", ScalarType.Float32);
        var prompts = Prompts(2, 60);
        var loop = new GenerationLoop(model, vocabularySize: 60);
        var tokens = loop.Run(prompts, SamplingOptions.Greedy(30), cancellationToken: TestContext.Current.CancellationToken).SelectMany(s => s.Tokens).ToList();
        Assert.All(tokens, t => Assert.InRange(t, 0, 59));
        var reference = new GenerationLoop(model, vocabularySize: 60) { UseNativeDecoder = false }.Run(prompts, SamplingOptions.Greedy(30), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(reference.SelectMany(s => s.Tokens), tokens);
    }

    [Fact]
    public void SeededSamplingReadsTheDecodersLogitsAndDrawsLikeTheTorchSharpStep()
    {
        CudaRequirement.NativeCudaOrFail();
        AssertSeededSamplingMatches(Model("odd", ScalarType.Float32));
    }

    [Fact]
    public void StopTokensEndRowsWhileTheOthersContinue()
    {
        CudaRequirement.NativeCudaOrFail();
        AssertStopTokensMatch(Model("odd", ScalarType.Float32));
    }

    [Fact]
    public void PeakBandwidthComesFromTheDevicesProperties()
    {
        CudaRequirement.NativeCudaOrFail();
        double peak = NativeMethods.mamba_cuda_peak_bandwidth(0);
        Assert.InRange(peak, 1e11, 1e14);   // 100 GB/s .. 100 TB/s
    }
}
