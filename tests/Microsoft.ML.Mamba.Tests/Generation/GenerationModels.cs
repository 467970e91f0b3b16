using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Generation;

internal static class GenerationModels
{
    /// <summary>A tiny random model; larger initial embeddings give peaked, seed-sensitive distributions.</summary>
    public static MambaForCausalLM Tiny(int seed, int vocab = 37)
    {
        var config = TinyConfigs.Tiny(vocab);
        config.InitializerRange = 0.5;
        var model = TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(config));
        model.eval();
        return model;
    }

    /// <summary>Greedy decoding the slow way: the full forward over the whole sequence at every step.</summary>
    public static List<int> GreedyByFullForward(MambaForCausalLM model, IReadOnlyList<int> prompt, int newTokens, float repetitionPenalty = 1f)
    {
        using var _ = no_grad();
        var sequence = prompt.ToList();
        var output = new List<int>();
        for (int i = 0; i < newTokens; i++)
        {
            var logits = TensorData.Flat(model.forward(tensor(sequence.Select(t => (long)t).ToArray()).unsqueeze(0), null)[0, -1]);
            foreach (int seen in sequence.Distinct())   // Hugging Face's rule, written out by hand
                logits[seen] = logits[seen] < 0 ? logits[seen] * repetitionPenalty : logits[seen] / repetitionPenalty;
            int best = 0;
            for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[best]) best = v;
            sequence.Add(best);
            output.Add(best);
        }
        return output;
    }
}
