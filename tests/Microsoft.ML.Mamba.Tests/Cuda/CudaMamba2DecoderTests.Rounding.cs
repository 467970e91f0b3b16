using System.Text;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

// Issue #20: the native decoder's greedy tokens against the TorchSharp step's on deep bf16 models, which the shallow
// models above leave out. Each step starts both paths from the step's states (Mamba2PathComparison: a deep bf16
// Mamba-2 turns the reordered sums of any two implementations into different tokens within a few dozen steps, so
// free-running paths are compared only in the report): logits within Mamba2PathComparison.LogitUlps bf16 ulps, and
// the same greedy choice wherever the step's leads by more than that.
public partial class CudaMamba2DecoderTests
{
    [Fact]
    public void DeepBf16ModelStaysWithinBf16RoundingOfTheTorchSharpStepTeacherForced()
    {
        CudaRequirement.NativeCudaOrFail();
        var model = Model("deep", ScalarType.BFloat16);
        var random = new Random(11);
        var prompts = Enumerable.Range(0, 4)
            .Select(_ => Enumerable.Range(0, 256).Select(_ => random.Next(model.Config.VocabSize)).ToArray()).ToArray();
        var result = Mamba2PathComparison.Compare(model, prompts, 64, resync: true, cache => new NativePath(model, cache));
        TestContext.Current.TestOutputHelper?.WriteLine(result.Text);
        Assert.True(result.Failure is null, result.Failure + "\n" + result.Text);
    }

    // DecodeBenchmark's bf16 Mamba-2 rows (0 of 1 and 0 of 16 greedy rows identical on an H100): its model, seed and
    // prompt length at batch 1 and 16 (tensor-core GEMVs), 128 steps from equal states each; then, for the report
    // only, the two running on their own states from the prefill on, as in the benchmark: where they part, and how far.
    [Fact]
    public void BenchmarkShapedBf16ModelStaysWithinBf16RoundingOfTheTorchSharpStepTeacherForced()
    {
        CudaRequirement.NativeCudaOrFail();
        var config = Config("benchmark");
        // As DecodeBenchmark: seed 0, the model made on the device and cast whole to bf16.
        using var model = TorchGlobalRandom.Seeded(0, () => new MambaForCausalLM(config, CUDA));
        model.to(ScalarType.BFloat16);
        model.eval();
        var random = new Random(1);
        int[] Prompt(int length) => Enumerable.Range(0, length).Select(_ => random.Next(config.VocabSize)).ToArray();
        Prompt(8); Prompt(8);   // its two warm-up prompts
        var text = new StringBuilder();
        string? failure = null;
        foreach (int batch in new[] { 1, 16 })
        {
            var prompts = Enumerable.Range(0, batch).Select(_ => Prompt(1024)).ToArray();
            var result = Mamba2PathComparison.Compare(model, prompts, 128, resync: true, cache => new NativePath(model, cache));
            text.AppendLine($"batch {batch}, every step from the step's states:").Append(result.Text);
            if (result.Failure is not null) failure ??= $"batch {batch}: {result.Failure}";
            var free = Mamba2PathComparison.Compare(model, prompts, 128, resync: false, cache => new NativePath(model, cache));
            text.AppendLine($"batch {batch}, each path on its own states (reported, not checked):").Append(free.Text);
        }
        TestContext.Current.TestOutputHelper?.WriteLine(text.ToString());
        Assert.True(failure is null, failure + "\n" + text);
    }

    // The native decoder as a decoding path, its states loaded from the prefilled cache.
    private sealed class NativePath : IMamba2DecodePath
    {
        private readonly CudaDecoder _decoder;

        public NativePath(MambaForCausalLM model, MambaCache cache)
        {
            _decoder = new CudaDecoder(model, (int)((Mamba2LayerState)cache.Layers[0]).SsmState.size(0), model.Config.VocabSize, withLogits: true);
            _decoder.LoadState(cache);
        }

        public Tensor Logits => _decoder.Logits!;

        public void Step(Tensor tokens, long[] greedy)
        {
            _decoder.Tokens.copy_(tokens);
            _decoder.Step(greedy);
        }

        public Tensor ConvState(int layer) => _decoder.States[layer].Conv;

        public Tensor SsmState(int layer) => _decoder.States[layer].Ssm;

        public void LoadState(MambaCache cache) => _decoder.LoadState(cache);

        public void Dispose() => _decoder.Dispose();
    }
}
