namespace Microsoft.ML.Mamba.AI;

/// <summary>Settings of a <see cref="MambaEmbeddingGenerator"/>.</summary>
public sealed record MambaEmbeddingOptions
{
    /// <summary>The model id reported in metadata and on each embedding. Default <c>"mamba"</c>.</summary>
    public string ModelId { get; init; } = "mamba";

    /// <summary>Scale each embedding to unit length (cosine similarity becomes a dot product). Default true.</summary>
    public bool Normalize { get; init; } = true;

    /// <summary>How many texts run through the model together. Default 16.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>
    /// Longest token sequence embedded; longer texts keep their first tokens (as
    /// <see cref="MLNet.MambaTrainerOptions.MaxSequenceLength"/> does). Default 2048.
    /// </summary>
    public int MaxSequenceLength { get; init; } = 2048;
}
