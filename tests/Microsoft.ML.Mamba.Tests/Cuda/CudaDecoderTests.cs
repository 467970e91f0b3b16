using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
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

    private static int[][] Prompts(int batch, int vocab) => Enumerable.Range(0, batch)
        .Select(r => Enumerable.Range(0, 5 + 3 * r).Select(t => (t * 31 + r * 7 + 1) % vocab).ToArray()).ToArray();

    private static IReadOnlyList<GeneratedSequence> Generate(MambaForCausalLM model, int[][] prompts, SamplingOptions options, bool native)
    {
        var loop = new GenerationLoop(model) { UseNativeDecoder = native };
        return loop.Run(prompts, options);
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
        var model = Model(shape, dtype);
        Assert.Null(CudaDecoder.Unsupported(model));
        var prompts = Prompts(batch, model.Config.VocabSize);
        var options = SamplingOptions.Greedy(24);
        var reference = Generate(model, prompts, options, native: false);
        var native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < batch; r++)
        {
            var a = reference[r].Tokens;
            var b = native[r].Tokens;
            int diverge = Enumerable.Range(0, Math.Min(a.Count, b.Count)).FirstOrDefault(i => a[i] != b[i], -1);
            if (diverge < 0) { Assert.Equal(a, b); continue; }
            // Only a near-tie may differ: the two candidates' logits (TorchSharp, full forward of the common prefix)
            // within a few units of the dtype's rounding.
            using var _ = no_grad();
            var sequence = prompts[r].Concat(a.Take(diverge)).Select(t => (long)t).ToArray();
            var logits = model.forward(tensor(sequence, device: CUDA).unsqueeze(0), null)[0, -1].cpu();
            float gap = Math.Abs(logits[a[diverge]].item<float>() - logits[b[diverge]].item<float>());
            float scale = Math.Max(Math.Abs(logits[a[diverge]].item<float>()), 1f) * (dtype == ScalarType.Float32 ? 1e-5f : 3e-2f);
            Assert.True(gap <= scale, $"row {r} diverges at token {diverge}: TorchSharp chose {a[diverge]}, the native decoder {b[diverge]}, logit gap {gap} (> {scale})");
        }
    }

    [Theory]
    [InlineData("odd", ScalarType.Float32, 2e-4)]
    [InlineData("odd", ScalarType.BFloat16, 6e-2)]
    [InlineData("wide", ScalarType.BFloat16, 6e-2)]
    public void LogitsStayCloseToTheTorchSharpStepTeacherForced(string shape, ScalarType dtype, double tolerance)
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model(shape, dtype);
        using var _ = no_grad();
        const int batch = 3;
        var prompt = tensor(Prompts(batch, model.Config.VocabSize).Select(p => p.Take(5)).SelectMany(p => p).Select(t => (long)t).ToArray(),
            new long[] { batch, 5 }, device: CUDA);
        using var cache = model.Backbone.NewCache(batch);
        var reference = model.Prefill(prompt, null, cache).select(1, 4);
        using var decoder = new CudaDecoder(model, batch, model.Config.VocabSize, withLogits: true);
        decoder.LoadState(cache);
        var hostNext = new long[batch];
        for (int step = 0; step < 12; step++)
        {
            var token = reference.argmax(-1);
            decoder.Tokens.copy_(token);
            decoder.Step(hostNext);
            reference = model.Step(token, cache);
            double error = (decoder.Logits! - reference).abs().max().item<float>();
            double size = reference.abs().max().item<float>();
            Assert.True(error <= tolerance * Math.Max(size, 1), $"step {step}: max logit error {error} (logits up to {size})");
            // The device's argmax is the argmax of the logits it wrote, ties to the lowest id.
            var own = decoder.Logits!.argmax(-1).cpu().data<long>().ToArray();
            Assert.Equal(own, hostNext);
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
        var model = Model("odd", ScalarType.Float32);
        var prompts = Prompts(3, model.Config.VocabSize);
        var options = new SamplingOptions { Temperature = 0.9f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 5, MaxNewTokens = 16 };
        var reference = Generate(model, prompts, options, native: false);
        var native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < 3; r++) Assert.Equal(reference[r].Tokens, native[r].Tokens);
    }

    [Fact]
    public void StopTokensEndRowsWhileTheOthersContinue()
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model("odd", ScalarType.Float32);
        var prompts = Prompts(3, model.Config.VocabSize);
        var free = Generate(model, prompts, SamplingOptions.Greedy(20), native: false);
        var stop = free[1].Tokens[3];   // row 1 stops at its fourth token (or earlier if it appears before)
        var options = SamplingOptions.Greedy(20);
        options.StopTokenIds = [stop];
        var reference = Generate(model, prompts, options, native: false);
        var native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal(reference[r].Tokens, native[r].Tokens);
            Assert.Equal(reference[r].FinishReason, native[r].FinishReason);
        }
    }

    [Fact]
    public void PeakBandwidthComesFromTheDevicesProperties()
    {
        CudaRequirement.NativeCudaOrFail();
        double peak = NativeMethods.mamba_cuda_peak_bandwidth(0);
        Assert.InRange(peak, 1e11, 1e14);   // 100 GB/s .. 100 TB/s
    }
}
