using System.Text.RegularExpressions;
using TorchSharp.Modules;

namespace Microsoft.ML.Mamba.Training;

/// <summary>Splits a model's parameters for AdamW and freezes the parts a fine-tune keeps fixed.</summary>
internal static partial class ParameterGroups
{
    /// <summary>
    /// True for parameters that must not be weight-decayed: A_log and D, and Mamba-2's dt_bias (decaying them would
    /// change the state dynamics, as in the reference implementation), normalisation weights and all biases.
    /// </summary>
    public static bool IsExcludedFromWeightDecay(string name)
    {
        string last = name[(name.LastIndexOf('.') + 1)..];
        if (last is "A_log" or "D" or "bias" or "dt_bias") return true;
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

    /// <summary>
    /// Learning-rate multipliers for fine-tuning a sequence classifier (parameters named <c>backbone.…</c> and a head):
    /// the head trains at the full rate, the backbone at <paramref name="backboneFactor"/> of it, and each layer below
    /// the top a further <paramref name="layerDecay"/> times slower (layer-wise decay; the embeddings sit one step
    /// below the lowest layer, the final norm with the top layer).
    /// </summary>
    /// <param name="layerCount">Layers of the backbone.</param>
    /// <param name="backboneFactor">Multiplier of the whole backbone, in (0, 1] usually.</param>
    /// <param name="layerDecay">Multiplier per layer below the top; 1 = the same for every layer.</param>
    public static Func<string, double> DiscriminativeLearningRates(int layerCount, double backboneFactor, double layerDecay) => name =>
    {
        if (!name.StartsWith("backbone.", StringComparison.Ordinal)) return 1.0;
        var m = LayerIndex().Match(name);
        int depth = m.Success ? layerCount - 1 - int.Parse(m.Groups[1].Value)
            : name.Contains("embeddings.", StringComparison.Ordinal) ? layerCount : 0;
        return backboneFactor * Math.Pow(layerDecay, Math.Max(0, depth));
    };

    [GeneratedRegex(@"(?:^|\.)layers\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
