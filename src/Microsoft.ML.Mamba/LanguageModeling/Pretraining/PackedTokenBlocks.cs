namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// Training blocks drawn from a <see cref="PackedTokenFile"/>: batch <c>k</c> is <c>BatchSize</c> windows of
/// <c>BlockLength + 1</c> tokens at offsets drawn uniformly by a generator seeded from (seed, k). A batch depends on
/// nothing but its index, so a resumed run continues with exactly the batches the uninterrupted run would have seen.
/// </summary>
internal sealed class PackedTokenBlocks
{
    private readonly PackedTokenFile _file;

    /// <param name="file">The tokens; stays owned by the caller.</param>
    /// <param name="blockLength">Predictions per window (the window holds one token more).</param>
    /// <param name="batchSize">Windows per batch.</param>
    /// <param name="seed">Chooses the offsets.</param>
    /// <exception cref="ArgumentException">The file holds fewer than <paramref name="blockLength"/> + 1 tokens.</exception>
    public PackedTokenBlocks(PackedTokenFile file, int blockLength, int batchSize, int seed)
    {
        _file = file ?? throw new ArgumentNullException(nameof(file));
        if (blockLength < 1) throw new ArgumentOutOfRangeException(nameof(blockLength), blockLength, "must be ≥ 1");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be ≥ 1");
        if (file.TokenCount < blockLength + 1)
            throw new ArgumentException($"'{file.Path}' holds {file.TokenCount} tokens, fewer than one block of {blockLength + 1}.", nameof(file));
        BlockLength = blockLength; BatchSize = batchSize; Seed = seed;
    }

    /// <summary>Predictions per window.</summary>
    public int BlockLength { get; }

    /// <summary>Windows per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The seed.</summary>
    public int Seed { get; }

    /// <summary>Batch <paramref name="index"/>, row-major (BatchSize, BlockLength + 1).</summary>
    public long[] Batch(long index)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index), index, "must be ≥ 0");
        int width = BlockLength + 1;
        var random = new Random(MixSeed(Seed, index));
        long positions = _file.TokenCount - width + 1;
        var window = new int[width];
        var ids = new long[(long)BatchSize * width];
        for (int b = 0; b < BatchSize; b++)
        {
            _file.Read(random.NextInt64(positions), window);
            for (int t = 0; t < width; t++) ids[b * width + t] = window[t];
        }
        return ids;
    }

    // splitmix64 of (seed, index): every batch gets its own well-spread generator seed, the same in every process.
    internal static int MixSeed(int seed, long index)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)index + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)((z ^ (z >> 31)) & 0x7FFFFFFF);
    }
}
