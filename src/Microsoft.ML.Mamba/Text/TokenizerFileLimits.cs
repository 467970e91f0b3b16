namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// Bounds on what Hugging Face tokenizer files may hold, checked before anything is allocated for it, so that a
/// hostile file fails with <see cref="InvalidDataException"/> rather than exhausting memory or overflowing a size.
/// </summary>
/// <param name="MaxFileBytes">The largest tokenizer file read (GPT-NeoX's tokenizer.json is about 2 MB).</param>
/// <param name="MaxTokenId">The largest token id accepted; <see cref="IMambaTokenizer.VocabularySize"/> is at most one more.</param>
/// <param name="MaxMerges">The most merge rules accepted.</param>
/// <param name="MaxJsonDepth">The deepest JSON nesting accepted (real files nest about 5 deep).</param>
internal sealed record TokenizerFileLimits(long MaxFileBytes, int MaxTokenId, int MaxMerges, int MaxJsonDepth)
{
    /// <summary>64 MiB per file, ids below 2^24 (16,777,216), at most 2^24 merges, JSON nested at most 64 deep.</summary>
    public static TokenizerFileLimits Default { get; } = new(64L << 20, (1 << 24) - 1, 1 << 24, 64);
}
