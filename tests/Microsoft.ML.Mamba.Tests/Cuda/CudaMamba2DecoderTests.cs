using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Checkpoints;
using TorchSharp;
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

    private static int[][] Prompts(int batch, int vocab) => Enumerable.Range(0, batch)
        .Select(r => Enumerable.Range(0, 5 + 3 * r).Select(t => (t * 31 + r * 7 + 1) % vocab).ToArray()).ToArray();

    private static IReadOnlyList<GeneratedSequence> Generate(MambaForCausalLM model, int[][] prompts, SamplingOptions options, bool native) =>
        new GenerationLoop(model) { UseNativeDecoder = native }.Run(prompts, options);

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
        var model = Model(shape, dtype);
        Assert.Null(CudaDecoder.Unsupported(model));
        var prompts = Prompts(batch, model.Config.VocabSize);   // rows of 5, 8, 11, ... tokens: left padding from batch 2 on
        var options = SamplingOptions.Greedy(24);
        var reference = Generate(model, prompts, options, native: false);
        var native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < batch; r++)
        {
            var a = reference[r].Tokens;
            var b = native[r].Tokens;
            int diverge = Enumerable.Range(0, Math.Min(a.Count, b.Count)).FirstOrDefault(i => a[i] != b[i], -1);
            if (diverge < 0) { Assert.Equal(a, b); continue; }
            // Only a near-tie may differ: the two candidates' logits (full forward of the common prefix) within a few
            // units of the dtype's rounding.
            using var _ = no_grad();
            var sequence = prompts[r].Concat(a.Take(diverge)).Select(t => (long)t).ToArray();
            var logits = model.forward(tensor(sequence, device: CUDA).unsqueeze(0), null)[0, -1].to_type(ScalarType.Float32).cpu();
            float gap = Math.Abs(logits[a[diverge]].item<float>() - logits[b[diverge]].item<float>());
            float scale = Math.Max(Math.Abs(logits[a[diverge]].item<float>()), 1f) * (dtype == ScalarType.Float32 ? 1e-5f : 3e-2f);
            Assert.True(gap <= scale, $"row {r} diverges at token {diverge}: TorchSharp chose {a[diverge]}, the native decoder {b[diverge]}, logit gap {gap} (> {scale})");
        }
    }

    [Theory]
    [InlineData("fixture", ScalarType.Float32, 2e-4, 1e-4)]
    [InlineData("odd", ScalarType.Float32, 2e-4, 1e-4)]
    [InlineData("odd", ScalarType.BFloat16, 6e-2, 3e-2)]
    [InlineData("wide", ScalarType.BFloat16, 6e-2, 3e-2)]
    public void LogitsAndStatesStayCloseToTheTorchSharpStepTeacherForced(string shape, ScalarType dtype, double tolerance, double stateTolerance)
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model(shape, dtype);
        using var _ = no_grad();
        const int batch = 3;
        var prompt = tensor(Prompts(batch, model.Config.VocabSize).Select(p => p.Take(5)).SelectMany(p => p).Select(t => (long)t).ToArray(),
            new long[] { batch, 5 }, device: CUDA);
        using var cache = model.Backbone.NewCache(batch);
        var reference = model.Prefill(prompt, null, cache).select(1, 4).to_type(ScalarType.Float32);
        using var decoder = new CudaDecoder(model, batch, model.Config.VocabSize, withLogits: true);
        decoder.LoadState(cache);
        var hostNext = new long[batch];
        for (int step = 0; step < 12; step++)
        {
            var token = reference.argmax(-1);
            decoder.Tokens.copy_(token);
            decoder.Step(hostNext);
            reference = model.Step(token, cache).to_type(ScalarType.Float32);
            double error = (decoder.Logits! - reference).abs().max().item<float>();
            double size = reference.abs().max().item<float>();
            Assert.True(error <= tolerance * Math.Max(size, 1), $"step {step}: max logit error {error} (logits up to {size})");
            var own = decoder.Logits!.argmax(-1).cpu().data<long>().ToArray();
            Assert.Equal(own, hostNext);
        }
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
    }

    [Fact]
    public void GraphReplayGivesTheBitsOfPlainLaunchesAndIdsOutsideTheVocabularyAreReported()
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model("odd", ScalarType.BFloat16);
        using var _ = no_grad();
        using var graph = new CudaDecoder(model, 2, model.Config.VocabSize, withLogits: true, useGraph: true);
        using var plain = new CudaDecoder(model, 2, model.Config.VocabSize, withLogits: true, useGraph: false);
        var a = new long[2];
        var b = new long[2];
        graph.Tokens.copy_(tensor(new long[] { 3, 50 }));
        plain.Tokens.copy_(tensor(new long[] { 3, 50 }));
        for (int step = 0; step < 6; step++)
        {
            graph.Step(a);
            plain.Step(b);
            Assert.Equal(a, b);
            Assert.True(graph.Logits!.eq(plain.Logits!).all().item<bool>(), $"step {step}: graph and plain logits differ");
        }
        graph.Tokens.copy_(tensor(new long[] { 7, 101 }));
        graph.Step(a);
        Assert.Equal(-2, a[1]);
        Assert.True(a[0] >= 0);
    }

    [Fact]
    public void SeededSamplingAndStopTokensBehaveAsWithTheTorchSharpStep()
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model("odd", ScalarType.Float32);
        var prompts = Prompts(3, model.Config.VocabSize);
        var sampling = new SamplingOptions { Temperature = 0.9f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 5, MaxNewTokens = 16 };
        var reference = Generate(model, prompts, sampling, native: false);
        var native = Generate(model, prompts, sampling, native: true);
        for (int r = 0; r < 3; r++) Assert.Equal(reference[r].Tokens, native[r].Tokens);

        var free = Generate(model, prompts, SamplingOptions.Greedy(20), native: false);
        var options = SamplingOptions.Greedy(20);
        options.StopTokenIds = [free[1].Tokens[3]];
        reference = Generate(model, prompts, options, native: false);
        native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal(reference[r].Tokens, native[r].Tokens);
            Assert.Equal(reference[r].FinishReason, native[r].FinishReason);
        }
    }
}
