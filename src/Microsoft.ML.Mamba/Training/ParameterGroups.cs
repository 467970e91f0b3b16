using System.Text.RegularExpressions;
using TorchSharp.Modules;

namespace Microsoft.ML.Mamba.Training;

/// <summary>Splits a model's parameters for AdamW and freezes the parts a fine-tune keeps fixed.</summary>
internal static partial class ParameterGroups
{
    /// <summary>
    /// True for parameters that must not be weight-decayed: A_log and D (decaying them would change the
    /// state dynamics, as in the reference implementation), normalisation weights and all biases.
    /// </summary>
    public static bool IsExcludedFromWeightDecay(string name)
    {
        string last = name[(name.LastIndexOf('.') + 1)..];
        if (last is "A_log" or "D" or "bias") return true;
        string owner = name.Contains('.') ? name[..name.LastIndexOf('.')] : "";
        string ownerLast = owner[(owner.LastIndexOf('.') + 1)..];
        return ownerLast.Contains("norm", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Turns off gradients for the embeddings and/or the lowest <paramref name="frozenLayers"/> layers; returns how many tensors were frozen.</summary>
    public static int Freeze(IEnumerable<(string Name, Parameter Parameter)> named, bool embeddings, int frozenLayers)
    {
        int frozen = 0;
        foreach (var (name, p) in named)
        {
            bool freeze = embeddings && name.Contains("embeddings.", StringComparison.Ordinal);
            var m = LayerIndex().Match(name);
            if (m.Success && int.Parse(m.Groups[1].Value) < frozenLayers) freeze = true;
            if (freeze) { p.requires_grad = false; frozen++; }
        }
        return frozen;
    }

    [GeneratedRegex(@"(?:^|\.)layers\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
