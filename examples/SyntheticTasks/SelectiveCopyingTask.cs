namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Selective copying (Gu &amp; Dao 2023, Section 3.1 and 4.1.1): a few data tokens sit at random positions in a
/// stream of noise; the sequence ends with one marker per data token and, at each marker, the model must output
/// the data tokens in their original order. Because the spacing is random, a time-invariant (convolutional)
/// model cannot know where to look; it has to select by content.
/// </summary>
/// <remarks>
/// Token ids: 0 is noise, <see cref="Marker"/> (the last id) asks for the next data token, and the ids in
/// between are data. A sequence of <c>length</c> tokens is <c>length − dataTokens</c> tokens of context
/// (noise with the data tokens scattered in it) followed by <c>dataTokens</c> markers; only marker positions
/// are scored.
/// </remarks>
public sealed class SelectiveCopyingTask : ISyntheticTask
{
    public const long Noise = 0;

    public int VocabSize { get; }

    /// <summary>How many data tokens each sequence hides (and the model must output).</summary>
    public int DataTokens { get; }

    /// <summary>The "output the next data token now" token.</summary>
    public long Marker => VocabSize - 1;

    /// <summary>Data tokens are 1 … VocabSize − 2.</summary>
    public int DataVocabSize => VocabSize - 2;

    public string Name => "selective-copying";

    /// <param name="vocabSize">All token ids, noise and marker included (the paper uses 16).</param>
    /// <param name="dataTokens">Tokens to memorize per sequence (the paper uses 16).</param>
    public SelectiveCopyingTask(int vocabSize = 16, int dataTokens = 16)
    {
        if (vocabSize < 3) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "needs noise, marker and at least one data token");
        if (dataTokens <= 0) throw new ArgumentOutOfRangeException(nameof(dataTokens), dataTokens, "must be positive");
        VocabSize = vocabSize;
        DataTokens = dataTokens;
    }

    /// <summary>The smallest sequence that fits: the data tokens, then the markers.</summary>
    public int MinimumLength => 2 * DataTokens;

    public SyntheticBatch Sample(Random random, int batchSize, int length)
    {
        if (length < MinimumLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"must be at least {MinimumLength} (data tokens + markers)");
        var batch = new SyntheticBatch(batchSize, length);
        int context = length - DataTokens;
        var positions = new int[DataTokens];
        for (int row = 0; row < batchSize; row++)
        {
            var input = batch.InputRow(row);
            var target = batch.TargetRow(row);
            input.Fill(Noise);
            RandomSubset.Choose(random, context, positions);
            Array.Sort(positions);
            for (int i = 0; i < DataTokens; i++)
            {
                long token = 1 + random.Next(DataVocabSize);
                input[positions[i]] = token;
                input[context + i] = Marker;
                target[context + i] = token;   // the i-th marker answers with the i-th data token
            }
        }
        return batch;
    }
}
