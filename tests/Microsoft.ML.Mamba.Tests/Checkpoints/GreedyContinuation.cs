using Microsoft.ML.Mamba.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

/// <summary>A prompt continued greedily to a given length, two ways that must agree with transformers' tokens.</summary>
internal static class GreedyContinuation
{
    /// <summary>Recurrent decoding: prefill the prompt (1, T), then one O(1) step per token.</summary>
    public static long[] WithCache(MambaForCausalLM model, Tensor prompt, int length)
    {
        using var cache = model.Backbone.NewCache(1);
        var next = model.Prefill(prompt, null, cache)[0, -1].argmax();
        var tokens = prompt[0].data<long>().ToList();
        while (tokens.Count < length)
        {
            tokens.Add(next.item<long>());
            next = model.Step(next.reshape(1), cache)[0].argmax();
        }
        return [.. tokens];
    }

    /// <summary>The same continuation re-running the full forward over the whole sequence for every token.</summary>
    public static long[] WithFullForward(MambaForCausalLM model, Tensor prompt, int length)
    {
        var tokens = prompt[0].data<long>().ToList();
        while (tokens.Count < length)
            tokens.Add(model.forward(tensor(tokens.ToArray()).unsqueeze(0), null)[0, -1].argmax().item<long>());
        return [.. tokens];
    }
}
