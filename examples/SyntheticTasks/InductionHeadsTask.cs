namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Induction heads (Olsson et al. 2022; Gu &amp; Dao 2023, Section 4.1.2): a random token sequence contains a
/// special token once, followed by some target token; the last token is the special token again and the model
/// must output that target ("…[S] x … [S] → x"). The position of the pair is random, so the model must recall
/// by content, and the paper tests it at lengths far beyond the one it was trained on.
/// </summary>
/// <remarks>
/// Token ids: <see cref="Special"/> is the last id; every other position holds a uniformly random ordinary token
/// 0 … VocabSize − 2, so the special token appears exactly twice. Only the last position is scored.
/// </remarks>
public sealed class InductionHeadsTask : ISyntheticTask
{
    public int VocabSize { get; }

    /// <summary>The token that marks the pair and asks the question.</summary>
    public long Special => VocabSize - 1;

    public string Name => "induction-heads";

    /// <summary>The smallest sequence that fits: special, target, special.</summary>
    public const int MinimumLength = 3;

    /// <param name="vocabSize">All token ids, the special token included (the paper uses 16).</param>
    public InductionHeadsTask(int vocabSize = 16)
    {
        if (vocabSize < 2) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "needs the special token and at least one other");
        VocabSize = vocabSize;
    }

    public SyntheticBatch Sample(Random random, int batchSize, int length)
    {
        if (length < MinimumLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"must be at least {MinimumLength}");
        var batch = new SyntheticBatch(batchSize, length);
        int ordinary = VocabSize - 1;
        for (int row = 0; row < batchSize; row++)
        {
            var input = batch.InputRow(row);
            for (int t = 0; t < length; t++) input[t] = random.Next(ordinary);
            // The first special token goes anywhere that leaves room for its target before the final query.
            int first = random.Next(length - 2);
            input[first] = Special;
            long answer = input[first + 1];
            input[length - 1] = Special;
            batch.TargetRow(row)[length - 1] = answer;
        }
        return batch;
    }
}
