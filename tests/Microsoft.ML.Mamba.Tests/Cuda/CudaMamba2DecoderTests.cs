using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Checkpoints;
using TorchSharp;
using static Microsoft.ML.Mamba.Tests.Cuda.NativeDecoderComparison;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>
/// The native whole-model CUDA decoder on Mamba-2 models (mamba2_decoder_create_cuda through CudaDecoder) against the
/// TorchSharp step it replaces (Mamba2Mixer.Step on the native SSD step): the same greedy tokens through GenerationLoop,
/// close logits and states step by step, graph replay equal to plain launches. Run on the GPU machine.
/// </summary>
[Trait("Category", "Cuda")]
public partial class CudaMamba2DecoderTests
{
    // name -> model: the HF fixture in both gated-norm forms (whole width; per group), odd sizes (hidden 39, 6 heads of 13,
    // 3 groups, state 20, conv 3, Δ clamped: unaligned rows), biases with a dtype-rounded residual and state 200 (8 states per
    // lane), and a wide one (vocabulary 33,000, hidden 256, 16 heads of 64, state 128: the 130M shapes' kernels).
    internal static MambaConfig Config(string name) => name switch
    {
        "odd" => new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2, VocabSize = 101, HiddenSize = 39, Expand = 2, HeadDim = 13,
            NGroups = 3, StateSize = 20, ConvKernel = 3, NumHiddenLayers = 3, NormPerGroup = true, TimeStepLimit = [0.002, 0.08],
            InitializerRange = 0.5,
        },
        "biases" => new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2, VocabSize = 97, HiddenSize = 40, Expand = 2, HeadDim = 20, NGroups = 2,
            StateSize = 200, NumHiddenLayers = 2, UseBias = true, ResidualInFp32 = false, InitializerRange = 0.5,
        },
        "wide" => new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2, VocabSize = 33000, HiddenSize = 256, Expand = 4, HeadDim = 64,
            NGroups = 2, StateSize = 128, NumHiddenLayers = 2, InitializerRange = 0.5,
        },
        // Deep and narrow (CudaMamba2DecoderTests.Rounding.cs): 16 layers of 8 heads of 32, state 64, one group.
        "deep" => new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2, VocabSize = 1000, HiddenSize = 128, Expand = 2, HeadDim = 32,
            NGroups = 1, StateSize = 64, NumHiddenLayers = 16,
        },
        // DecodeBenchmark's Mamba-2 (BenchmarkConfig): 24 x 768, heads of 64, state 128, one group, vocabulary 50,280.
        "benchmark" => new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2, HiddenSize = 768, HeadDim = 64, StateSize = 128, NumHiddenLayers = 24,
        },
        _ => throw new ArgumentException(name),
    };

    private static MambaForCausalLM Model(string name, ScalarType dtype, int seed = 3)
    {
        MambaForCausalLM model;
        if (name.StartsWith("fixture"))
        {
            var dir = HuggingFaceMamba2ParityTests.Fixture;
            model = MambaForCausalLM.FromPretrained(name == "fixture" ? dir : Path.Combine(dir, "mamba-ssm-form"), CUDA);
        }
        else
        {
            model = TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(Config(name), CUDA));
            using (no_grad())
                foreach (var layer in model.Backbone.layers)
                {
                    var m = (Mamba2Mixer)layer.mixer;
                    m.D.normal_(1, 0.5);                 // a D that differs per head
                    m.norm.weight.normal_(1, 0.3);       // a gated norm scale that differs per channel
                    m.in_proj.bias?.normal_(0, 0.1);
                    m.out_proj.bias?.normal_(0, 0.1);
                }
        }
        if (dtype != ScalarType.Float32) model.to(dtype);
        model.eval();
        return model;
    }

    [Theory]
    [InlineData("fixture", ScalarType.Float32, 1)]
    [InlineData("fixture", ScalarType.Float32, 3)]
    [InlineData("fixture", ScalarType.BFloat16, 1)]
    [InlineData("fixture", ScalarType.BFloat16, 3)]
    [InlineData("fixture-mamba-ssm", ScalarType.Float32, 3)]
    [InlineData("odd", ScalarType.Float32, 1)]
    [InlineData("odd", ScalarType.Float32, 3)]
    [InlineData("odd", ScalarType.BFloat16, 3)]
    [InlineData("biases", ScalarType.BFloat16, 3)]
    [InlineData("biases", ScalarType.Float32, 2)]
    [InlineData("wide", ScalarType.Float32, 5)]
    [InlineData("wide", ScalarType.BFloat16, 9)]
    public void GreedyTokensMatchTheTorchSharpStep(string shape, ScalarType dtype, int batch)
    {
        CudaRequirement.NativeCudaOrFail();
        AssertGreedyTokensMatch(Model(shape, dtype), dtype, batch);
    }

    [Theory]
    [InlineData("fixture", ScalarType.Float32, 2e-4, 1e-4)]
    [InlineData("odd", ScalarType.Float32, 2e-4, 1e-4)]
    [InlineData("odd", ScalarType.BFloat16, 6e-2, 3e-2)]
    [InlineData("wide", ScalarType.BFloat16, 6e-2, 3e-2)]
    public void LogitsAndStatesStayCloseToTheTorchSharpStepTeacherForced(string shape, ScalarType dtype, double tolerance, double stateTolerance)
    {
        CudaRequirement.NativeCudaOrFail();
        AssertTeacherForcedLogitsClose(Model(shape, dtype), tolerance, (decoder, cache) =>
        {
            // The states after 12 steps: the SSM state (fp32) and the conv window (the model's dtype) of every layer.
            for (int i = 0; i < cache.Layers.Count; i++)
            {
                var layer = (Mamba2LayerState)cache.Layers[i];
                var (conv, ssm) = decoder.States[i];
                double scale = Math.Max(layer.SsmState.abs().max().item<float>(), 1f);
                double ssmError = (ssm - layer.SsmState).abs().max().item<float>();
                Assert.True(ssmError <= stateTolerance * scale, $"layer {i}: SSM state error {ssmError} (state up to {scale})");
                double convError = (conv.to_type(ScalarType.Float32) - layer.ConvState.to_type(ScalarType.Float32)).abs().max().item<float>();
                double convScale = Math.Max(layer.ConvState.to_type(ScalarType.Float32).abs().max().item<float>(), 1f);
                Assert.True(convError <= stateTolerance * convScale, $"layer {i}: conv window error {convError}");
            }
        });
    }

    [Fact]
    public void GraphReplayGivesTheBitsOfPlainLaunchesAndIdsOutsideTheVocabularyAreReported()
    {
        CudaRequirement.NativeCudaOrFail();
        AssertGraphReplayMatchesPlainLaunches(Model("odd", ScalarType.BFloat16));
    }

    [Fact]
    public void SeededSamplingAndStopTokensBehaveAsWithTheTorchSharpStep()
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model("odd", ScalarType.Float32);
        AssertSeededSamplingMatches(model);
        AssertStopTokensMatch(model);
    }
}
