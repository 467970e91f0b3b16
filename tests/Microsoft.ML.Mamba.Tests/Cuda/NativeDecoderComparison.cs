using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>
/// The native whole-model CUDA decoder (CudaDecoder) against the TorchSharp step it replaces, for a model of either
/// architecture: the comparisons CudaDecoderTests (Mamba-1) and CudaMamba2DecoderTests (Mamba-2) share. GPU only.
/// </summary>
internal static class NativeDecoderComparison
{
    /// <summary>Rows of 5, 8, 11, ... tokens (left padding from batch 2 on), ids below <paramref name="vocab"/>.</summary>
    public static int[][] Prompts(int batch, int vocab) => Enumerable.Range(0, batch)
        .Select(r => Enumerable.Range(0, 5 + 3 * r).Select(t => (t * 31 + r * 7 + 1) % vocab).ToArray()).ToArray();

    public static IReadOnlyList<GeneratedSequence> Generate(MambaForCausalLM model, int[][] prompts, SamplingOptions options, bool native) =>
        new GenerationLoop(model) { UseNativeDecoder = native }.Run(prompts, options);

    /// <summary>
    /// 24 greedy tokens per row through GenerationLoop with and without the native decoder: the same tokens, or a
    /// divergence only where the two candidates are a near-tie.
    /// </summary>
    public static void AssertGreedyTokensMatch(MambaForCausalLM model, ScalarType dtype, int batch)
    {
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
            var logits = model.forward(tensor(sequence, device: CUDA).unsqueeze(0), null)[0, -1].to_type(ScalarType.Float32).cpu();
            float gap = Math.Abs(logits[a[diverge]].item<float>() - logits[b[diverge]].item<float>());
            float scale = Math.Max(Math.Abs(logits[a[diverge]].item<float>()), 1f) * (dtype == ScalarType.Float32 ? 1e-5f : 3e-2f);
            Assert.True(gap <= scale, $"row {r} diverges at token {diverge}: TorchSharp chose {a[diverge]}, the native decoder {b[diverge]}, logit gap {gap} (> {scale})");
        }
    }

    /// <summary>
    /// Three rows prefilled with 5 tokens, then 12 steps fed TorchSharp's choice: the decoder's fp32 logits within
    /// <paramref name="tolerance"/> of the step's (relative to the largest logit) and its argmax theirs.
    /// <paramref name="afterSteps"/> then sees the decoder and the TorchSharp cache (for a state check).
    /// </summary>
    public static void AssertTeacherForcedLogitsClose(MambaForCausalLM model, double tolerance, Action<CudaDecoder, MambaCache>? afterSteps = null)
    {
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
            // The device's argmax is the argmax of the logits it wrote, ties to the lowest id.
            var own = decoder.Logits!.argmax(-1).cpu().data<long>().ToArray();
            Assert.Equal(own, hostNext);
        }
        afterSteps?.Invoke(decoder, cache);
    }

    /// <summary>
    /// Two rows, six steps: a captured graph's replay gives the bits of plain launches; then an id at the vocabulary
    /// size is reported as -2 for its row while the other row still decodes.
    /// </summary>
    public static void AssertGraphReplayMatchesPlainLaunches(MambaForCausalLM model)
    {
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
        graph.Tokens.copy_(tensor(new long[] { 7, model.Config.VocabSize }));
        graph.Step(a);
        Assert.Equal(-2, a[1]);
        Assert.True(a[0] >= 0);
    }

    /// <summary>Seeded temperature, top-k, top-p and repetition-penalty sampling draws the same tokens either way.</summary>
    public static void AssertSeededSamplingMatches(MambaForCausalLM model)
    {
        var prompts = Prompts(3, model.Config.VocabSize);
        var options = new SamplingOptions { Temperature = 0.9f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 5, MaxNewTokens = 16 };
        var reference = Generate(model, prompts, options, native: false);
        var native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < 3; r++) Assert.Equal(reference[r].Tokens, native[r].Tokens);
    }

    /// <summary>A stop token (row 1's fourth greedy token) ends rows the same way either way while the others continue.</summary>
    public static void AssertStopTokensMatch(MambaForCausalLM model)
    {
        var prompts = Prompts(3, model.Config.VocabSize);
        var free = Generate(model, prompts, SamplingOptions.Greedy(20), native: false);
        var options = SamplingOptions.Greedy(20);
        options.StopTokenIds = [free[1].Tokens[3]];   // row 1 stops at its fourth token (or earlier if it appears before)
        var reference = Generate(model, prompts, options, native: false);
        var native = Generate(model, prompts, options, native: true);
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal(reference[r].Tokens, native[r].Tokens);
            Assert.Equal(reference[r].FinishReason, native[r].FinishReason);
        }
    }
}
