namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Multi-query associative recall, MQAR (Arora et al. 2023, "Zoology"; the recall task of the Mamba-2 paper, Dao &amp;
/// Gu 2024, Section 9.1): a sequence starts with <see cref="KeyValuePairs"/> key–value pairs and later asks for every
/// key once, at random positions; at each query the model must output that key's value. Unlike induction heads there
/// are many associations to hold at once, so the task measures how much a fixed-size recurrent state can store.
/// </summary>
/// <remarks>
/// Layout of a sequence of length T with K pairs, following Zoology's generator: positions 0 … 2K − 1 hold
/// <c>k1 v1 k2 v2 …</c>; the rest is <see cref="Filler"/> (or random tokens, see <see cref="RandomFiller"/>) with the
/// K keys placed again, in random order, at even offsets 2g of that region. The gaps g are distinct and drawn with
/// probability ∝ (g + 1)^(a − 1) (<see cref="PowerA"/>; Zoology's 0.01 puts most queries near the start of the query
/// region, 1 is uniform). Keys are distinct ids from 1 … V/2 − 1 and values distinct ids from V/2 … V − 1 (V the
/// vocabulary), so the two never collide. Only the query positions are scored: the target there is the value.
/// </remarks>
public sealed class MultiQueryAssociativeRecallTask : ISyntheticTask
{
    /// <summary>The token between queries (Zoology's 0, which is never a key).</summary>
    public const long Filler = 0;

    private readonly Dictionary<int, double[]> _gapWeights = new();

    public int VocabSize { get; }

    /// <summary>Key–value pairs per sequence; every key is queried once.</summary>
    public int KeyValuePairs { get; }

    /// <summary>Exponent a of the gap distribution ∝ (g + 1)^(a − 1): 0.01 in Zoology, 1 for uniform gaps.</summary>
    public double PowerA { get; }

    /// <summary>Random tokens (any id) instead of <see cref="Filler"/> between the queries (Zoology's random_non_queries).</summary>
    public bool RandomFiller { get; }

    /// <summary>The first value id: keys are 1 … FirstValue − 1, values FirstValue … VocabSize − 1.</summary>
    public int FirstValue => VocabSize / 2;

    public string Name => "mqar";

    /// <summary>The shortest sequence that fits: 2K tokens of pairs and a query region with K even slots.</summary>
    public int MinimumLength => 4 * KeyValuePairs;

    /// <param name="vocabSize">All token ids (Zoology and the Mamba-2 paper use 8,192).</param>
    /// <param name="keyValuePairs">Pairs per sequence (K).</param>
    /// <param name="powerA">Gap distribution exponent, in (0, 1].</param>
    /// <param name="randomFiller">Random tokens instead of <see cref="Filler"/> between the queries.</param>
    public MultiQueryAssociativeRecallTask(int vocabSize = 8192, int keyValuePairs = 8, double powerA = 0.01, bool randomFiller = false)
    {
        if (keyValuePairs <= 0) throw new ArgumentOutOfRangeException(nameof(keyValuePairs), keyValuePairs, "must be positive");
        if (vocabSize / 2 - 1 < keyValuePairs)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize,
                $"needs at least {keyValuePairs} distinct keys in 1 … vocab/2 − 1 (vocab ≥ {2 * keyValuePairs + 2})");
        if (!(powerA > 0 && powerA <= 1)) throw new ArgumentOutOfRangeException(nameof(powerA), powerA, "must be in (0, 1]");
        VocabSize = vocabSize;
        KeyValuePairs = keyValuePairs;
        PowerA = powerA;
        RandomFiller = randomFiller;
    }

    public SyntheticBatch Sample(Random random, int batchSize, int length)
    {
        if (length < MinimumLength)
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"must be at least {MinimumLength} (4 × {KeyValuePairs} key-value pairs: the pairs, then a query slot per key)");
        var batch = new SyntheticBatch(batchSize, length);
        int pairs = KeyValuePairs, context = 2 * pairs;
        var weights = GapWeights((length - context) / 2);
        Span<int> keys = stackalloc int[pairs], values = stackalloc int[pairs], gaps = stackalloc int[pairs];
        for (int row = 0; row < batchSize; row++)
        {
            var input = batch.InputRow(row);
            var target = batch.TargetRow(row);
            if (RandomFiller)
                for (int t = context; t < length; t++) input[t] = random.Next(VocabSize);
            else
                input[context..].Fill(Filler);
            RandomSubset.Choose(random, FirstValue - 1, keys);
            RandomSubset.Choose(random, VocabSize - FirstValue, values);
            RandomSubset.ChooseWeighted(random, weights, gaps);
            for (int i = 0; i < pairs; i++)
            {
                long key = 1 + keys[i], value = FirstValue + values[i];
                input[2 * i] = key;
                input[2 * i + 1] = value;
                // The gaps come out in a random order, so the queries do not follow the order of the pairs.
                int query = context + 2 * gaps[i];
                input[query] = key;
                target[query] = value;
            }
        }
        return batch;
    }

    // (g + 1)^(a − 1) for the gaps g = 0 … slots − 1, computed once per length.
    private double[] GapWeights(int slots)
    {
        if (!_gapWeights.TryGetValue(slots, out var weights))
        {
            weights = new double[slots];
            for (int g = 0; g < slots; g++) weights[g] = Math.Pow(g + 1, PowerA - 1);
            _gapWeights[slots] = weights;
        }
        return weights;
    }
}
