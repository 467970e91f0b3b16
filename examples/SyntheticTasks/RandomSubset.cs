namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>Distinct random draws from a range, shared by the task generators.</summary>
public static class RandomSubset
{
    /// <summary>
    /// Fills <paramref name="into"/> with distinct integers from [0, <paramref name="range"/>), uniformly, in the order
    /// drawn: a partial Fisher–Yates shuffle that keeps only the swapped entries, so memory is O(count) for any range.
    /// </summary>
    public static void Choose(Random random, int range, Span<int> into)
    {
        if (into.Length > range)
            throw new ArgumentOutOfRangeException(nameof(range), range, $"cannot draw {into.Length} distinct values from a range of {range}");
        var swapped = new Dictionary<int, int>();
        for (int i = 0; i < into.Length; i++)
        {
            int j = i + random.Next(range - i);
            int atJ = swapped.TryGetValue(j, out int v) ? v : j;
            swapped[j] = swapped.TryGetValue(i, out int w) ? w : i;
            into[i] = atJ;
        }
    }

    /// <summary>
    /// Fills <paramref name="into"/> with distinct indices of <paramref name="weights"/>, each drawn with probability
    /// proportional to its weight among those not drawn yet (weighted sampling without replacement, as numpy's
    /// <c>choice(replace=False, p=…)</c>), most likely first. Uses one uniform number per weight (Efraimidis &amp;
    /// Spirakis 2006: the indices with the largest <c>u^(1/w)</c>), so a draw costs O(n log n), not O(count · n).
    /// </summary>
    public static void ChooseWeighted(Random random, ReadOnlySpan<double> weights, Span<int> into)
    {
        if (into.Length > weights.Length)
            throw new ArgumentOutOfRangeException(nameof(weights), weights.Length, $"cannot draw {into.Length} distinct indices from {weights.Length}");
        var keys = new double[weights.Length];
        var order = new int[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            // log(u) / w orders like u^(1/w) and does not underflow for small weights; 1 − NextDouble() is in (0, 1].
            keys[i] = -Math.Log(1 - random.NextDouble()) / weights[i];
            order[i] = i;
        }
        Array.Sort(keys, order);   // ascending −log(u)/w = descending u^(1/w)
        order.AsSpan(0, into.Length).CopyTo(into);
    }
}
