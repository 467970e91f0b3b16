namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>Which Mamba generation's mixer a <see cref="ModelVariant"/> builds.</summary>
public enum MixerFamily
{
    /// <summary>Mamba (Gu &amp; Dao 2023): the selective scan (S6) with per-channel Δ and an N-wide state per channel.</summary>
    Mamba1,

    /// <summary>Mamba-2 (Dao &amp; Gu 2024): the SSD layer, scalar A per head, B and C shared across a head's channels.</summary>
    Mamba2,
}
