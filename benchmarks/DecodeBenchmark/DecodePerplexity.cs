using System.Diagnostics;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Quantization;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Held-out perplexity of a model folder through the decoding step, once per <see cref="DecodeWeights"/>: the text's
/// documents (non-blank lines; every <c>every</c>-th one, as the pretraining example holds them out) are tokenized,
/// each followed by the end-of-sequence id, cut into blocks of <c>block</c> tokens, and every block is fed token by
/// token through <see cref="MambaForCausalLM.Step"/> from an empty state, all blocks as one batch. So the packed
/// projections are what is measured. The fp32 full forward over the same blocks is printed as a check of the step path.
/// </summary>
internal static class DecodePerplexity
{
    public static void Run(string modelDirectory, string textFile, int every, int block, IReadOnlyList<DecodeWeights> formats)
    {
        var tokenizer = MambaLanguageModelFolder.LoadTokenizer(modelDirectory);
        using var model = MambaForCausalLM.FromPretrained(modelDirectory);
        model.to(ScalarType.Float32);
        model.eval();
        // A checkpoint saved in bf16 loads as bf16 values: bf16 decode weights then change nothing.
        string[] packedNames = ["in_proj.weight", "x_proj.weight", "out_proj.weight", "embeddings.weight", "lm_head.weight"];
        bool bf16Values;
        using (no_grad())
            bf16Values = model.named_parameters().Where(p => packedNames.Any(n => p.name.EndsWith(n, StringComparison.Ordinal)))
                .All(p => p.parameter.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32).eq(p.parameter).all().item<bool>());
        var documents = File.ReadLines(textFile).Where(l => !string.IsNullOrWhiteSpace(l)).Where((_, i) => (i + 1) % every == 0).ToList();
        var stream = new List<long>();
        foreach (var d in documents)
        {
            var ids = tokenizer.Encode(d);
            if (ids.Count == 0) continue;
            stream.AddRange(ids.Select(t => (long)t));
            if (tokenizer.EosTokenId is int eos) stream.Add(eos);
        }
        int blocks = stream.Count / block;
        using var tokens = tensor(stream.Take(blocks * block).ToArray(), new long[] { blocks, block });
        Console.WriteLine($"Perplexity: {modelDirectory} (run in fp32; {(bf16Values ? "every weight of the packed projections is a bf16 value" : "the packed projections' weights are not all bf16 values")}), {documents.Count} documents of {textFile} " +
                          $"(every {every}th non-blank line), {stream.Count} tokens, {blocks} blocks of {block} " +
                          $"({blocks * (block - 1)} predicted tokens)");

        using (no_grad())
        {
            using var logits = model.forward(tokens, null);
            double nll = nn.functional.cross_entropy(logits[.., ..^1].reshape(-1, logits.size(2)), tokens[.., 1..].reshape(-1)).item<float>();
            Console.WriteLine($"  full forward, fp32      : loss {nll:F5} nats/token, perplexity {Math.Exp(nll):F3}");
        }
        double? reference = null;
        foreach (var format in formats)
        {
            var used = model.PrepareDecodeWeights(format);
            var watch = Stopwatch.StartNew();
            double nll = StepLoss(model, tokens);
            reference ??= nll;
            double change = (Math.Exp(nll) / Math.Exp(reference.Value) - 1) * 100;
            Console.WriteLine($"  step, {used,-8} weights: loss {nll:F5} nats/token, perplexity {Math.Exp(nll):F3} " +
                              $"({change:+0.000;-0.000;0.000}% against the first), {watch.Elapsed.TotalSeconds:F1} s");
        }
        model.PrepareDecodeWeights(DecodeWeights.Float32);
    }

    // Mean next-token cross-entropy of every block, fed token by token through the decoding step.
    private static double StepLoss(MambaForCausalLM model, Tensor tokens)
    {
        using var _ = no_grad();
        long blocks = tokens.size(0), length = tokens.size(1);
        using var cache = model.Backbone.NewCache(blocks);
        double total = 0;
        for (long t = 0; t + 1 < length; t++)
        {
            using var scope = NewDisposeScope();
            var logits = model.Step(tokens[.., t].contiguous(), cache);
            total += nn.functional.cross_entropy(logits, tokens[.., t + 1], reduction: nn.Reduction.Sum).item<float>();
        }
        return total / (blocks * (length - 1));
    }
}
