using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// The architectures compared in the paper's Table 1, as switches on one Mamba block: the selective (S6) or a
/// time-invariant (S4-like) SSM, with or without the SiLU(z) gate.
/// </summary>
public sealed record ModelVariant(string Name, string Description, bool TimeInvariantSsm, bool Ungated)
{
    /// <summary>Mamba as published: selective SSM (S6) with the gate. Table 1: "Mamba / S6".</summary>
    public static readonly ModelVariant Mamba = new("mamba", "Mamba block, selective SSM (S6)", false, false);

    /// <summary>Δ, B, C learned constants instead of functions of the input. Table 1: "Mamba / S4".</summary>
    public static readonly ModelVariant TimeInvariant = new("time-invariant", "Mamba block, time-invariant SSM (S4-like)", true, false);

    /// <summary>Selective SSM without the gate. Table 1: "No gate / S6".</summary>
    public static readonly ModelVariant NoGate = new("ungated", "No gate, selective SSM (S6)", false, true);

    /// <summary>Neither selection nor gate. Table 1: "No gate / S4".</summary>
    public static readonly ModelVariant TimeInvariantUngated = new("time-invariant-ungated", "No gate, time-invariant SSM (S4-like)", true, true);

    public static IReadOnlyList<ModelVariant> All { get; } = new[] { Mamba, TimeInvariant, NoGate, TimeInvariantUngated };

    /// <summary>Finds a variant by name (case-insensitive); "all" is not a variant, see <see cref="ParseList"/>.</summary>
    public static ModelVariant Parse(string name) =>
        All.FirstOrDefault(v => string.Equals(v.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown variant '{name}'; expected one of: {string.Join(", ", All.Select(v => v.Name))}, all");

    /// <summary>A comma-separated list of variant names, or "all".</summary>
    public static IReadOnlyList<ModelVariant> ParseList(string names) =>
        names.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)
            ? All
            : names.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToArray();

    /// <summary>
    /// The paper's synthetic-task model (Appendix E.1): two layers, model dimension 64, and this variant's switches.
    /// The remaining sizes are Mamba's defaults (state 16, expansion 2, conv width 4).
    /// </summary>
    public MambaConfig Config(int vocabSize, int layers = 2, int modelDimension = 64, int stateSize = 16) => new()
    {
        VocabSize = vocabSize,
        HiddenSize = modelDimension,
        NumHiddenLayers = layers,
        StateSize = stateSize,
        Expand = 2,
        ConvKernel = 4,
        TieWordEmbeddings = true,
        TimeInvariantSsm = TimeInvariantSsm,
        Ungated = Ungated,
    };

    public override string ToString() => Name;
}
