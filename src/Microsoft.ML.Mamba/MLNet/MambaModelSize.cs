namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Sizes of a Mamba network trained from scratch (ignored when fine-tuning a checkpoint).</summary>
public enum MambaModelSize
{
    /// <summary>2 layers of width 64, state 8: for tests and CPU demos (a few hundred thousand parameters plus embeddings).</summary>
    Tiny,
    /// <summary>4 layers of width 128, state 16.</summary>
    Small,
    /// <summary>8 layers of width 256, state 16.</summary>
    Base,
}
