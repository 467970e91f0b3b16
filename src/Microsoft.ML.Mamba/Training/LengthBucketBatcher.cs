namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// Groups examples of similar length into batches so little compute goes into padding, while keeping the
/// order random: indices are shuffled, cut into pools of many batches, each pool is sorted by length and
/// cut into batches, and finally the batch order is shuffled.
/// </summary>
internal static class LengthBucketBatcher
{
    /// <summary>How many batches share one length-sorted pool (larger: less padding, less randomness).</summary>
    public const int BatchesPerPool = 50;

    /// <summary>Batches of indices into <paramref name="lengths"/>; with <paramref name="random"/> null the order is fixed (for scoring).</summary>
    public static List<int[]> MakeBatches(IReadOnlyList<int> lengths, int batchSize, Random? random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var order = Enumerable.Range(0, lengths.Count).ToArray();
        if (random is not null) random.Shuffle(order);

        var batches = new List<int[]>();
        int poolSize = batchSize * BatchesPerPool;
        for (int start = 0; start < order.Length; start += poolSize)
        {
            var pool = order.Skip(start).Take(poolSize).OrderBy(i => lengths[i]).ToArray();
            for (int b = 0; b < pool.Length; b += batchSize)
                batches.Add(pool.Skip(b).Take(batchSize).ToArray());
        }
        if (random is not null) random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batches));
        return batches;
    }
}
