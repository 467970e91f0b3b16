namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The mixer family of a Mamba model (<see cref="MambaConfig.Architecture"/>); everything around the mixer (blocks,
/// backbone, heads, generation, trainers) is shared.
/// </summary>
public enum MambaArchitecture
{
    /// <summary>Mamba (Gu &amp; Dao 2023): the selective scan with a diagonal A per channel, <see cref="MambaMixer"/>;
    /// Hugging Face's <c>model_type</c> "mamba".</summary>
    Mamba1,

    /// <summary>Mamba-2 (Dao &amp; Gu 2024): the state space dual with one scalar decay per head of <c>head_dim</c>
    /// channels, <see cref="Mamba2Mixer"/>; Hugging Face's <c>model_type</c> "mamba2".</summary>
    Mamba2,
}
