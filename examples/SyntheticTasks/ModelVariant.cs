using System.Numerics;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// The architectures compared in the paper's Table 1, as switches on one Mamba block: the selective (S6) or a
/// time-invariant (S4-like) SSM, with or without the SiLU(z) gate; and Mamba-2, which the Mamba-2 paper compares
/// with Mamba on multi-query associative recall.
/// </summary>
public sealed record ModelVariant(string Name, string Description, bool TimeInvariantSsm, bool Ungated,
    MambaArchitecture Architecture = MambaArchitecture.Mamba1)
{
    /// <summary>Mamba as published: selective SSM (S6) with the gate. Table 1: "Mamba / S6".</summary>
    public static readonly ModelVariant Mamba = new("mamba", "Mamba block, selective SSM (S6)", false, false);

    /// <summary>Δ, B, C learned constants instead of functions of the input. Table 1: "Mamba / S4".</summary>
    public static readonly ModelVariant TimeInvariant = new("time-invariant", "Mamba block, time-invariant SSM (S4-like)", true, false);

    /// <summary>Selective SSM without the gate. Table 1: "No gate / S6".</summary>
    public static readonly ModelVariant NoGate = new("ungated", "No gate, selective SSM (S6)", false, true);

    /// <summary>Neither selection nor gate. Table 1: "No gate / S4".</summary>
    public static readonly ModelVariant TimeInvariantUngated = new("time-invariant-ungated", "No gate, time-invariant SSM (S4-like)", true, true);

    /// <summary>Mamba-2's block with its SSD layer (Dao &amp; Gu 2024), at the same model dimension. Not a Table 1 row.</summary>
    public static readonly ModelVariant Mamba2 = new("mamba2", "Mamba-2 block, SSD layer", false, false, MambaArchitecture.Mamba2);

    /// <summary>The four rows of the Mamba paper's Table 1: what "--variants all" means.</summary>
    public static IReadOnlyList<ModelVariant> All { get; } = new[] { Mamba, TimeInvariant, NoGate, TimeInvariantUngated };

    /// <summary>Every variant a name can pick: <see cref="All"/> and <see cref="Mamba2"/>.</summary>
    public static IReadOnlyList<ModelVariant> Known { get; } = All.Append(Mamba2).ToArray();

    /// <summary>Finds a variant by name (case-insensitive); "all" is not a variant, see <see cref="ParseList"/>.</summary>
    public static ModelVariant Parse(string name) =>
        Known.FirstOrDefault(v => string.Equals(v.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown variant '{name}'; expected one of: {string.Join(", ", Known.Select(v => v.Name))}, all");

    /// <summary>A comma-separated list of variant names, or "all".</summary>
    public static IReadOnlyList<ModelVariant> ParseList(string names) =>
        names.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)
            ? All
            : names.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToArray();

    /// <summary>
    /// The paper's synthetic-task model (Appendix E.1): two layers, model dimension 64, and this variant's switches.
    /// The remaining sizes are Mamba's defaults (state 16, expansion 2, conv width 4). The one place a variant becomes
    /// a model, for every task and example. Mamba-2 takes mamba_ssm's defaults: heads of 64 channels (fewer where the
    /// inner width, 2 × model dimension, is not a multiple of 64: the largest power of two dividing both), one group
    /// of B and C, and the state size given (the Mamba-2 paper's MQAR runs use 16, 64 and 256).
    /// </summary>
    public MambaConfig Config(int vocabSize, int layers = 2, int modelDimension = 64, int stateSize = 16)
    {
        var config = new MambaConfig
        {
            Architecture = Architecture,
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
        if (Architecture == MambaArchitecture.Mamba2) config.HeadDim = (int)BigInteger.GreatestCommonDivisor(64, config.InnerSize);
        return config;
    }

    public override string ToString() => Name;
}
