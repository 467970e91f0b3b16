namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Prints the induction-heads test sequences a model gets wrong, with how far the trigger was from the query.
/// Whether misses at long lengths come from long distances (memory fading) or happen anywhere (something else,
/// such as a rare token pattern) is what this tells apart.
/// </summary>
public sealed class InductionMissLog(InductionHeadsTask task, int length, TextWriter log, int maxLines = 50)
{
    int _sequence;
    int _printed;

    /// <summary>For <see cref="SyntheticTrainer.Accuracy"/>: one batch and its argmax predictions.</summary>
    public void Inspect(SyntheticBatch batch, long[] predicted)
    {
        for (int row = 0; row < batch.BatchSize; row++, _sequence++)
        {
            int last = batch.Length - 1;
            long target = batch.TargetRow(row)[last];
            long guess = predicted[(long)row * batch.Length + last];
            if (guess == target) continue;
            if (_printed++ == maxLines) { log.WriteLine($"    (length {length}: further misses not shown)"); continue; }
            if (_printed > maxLines) continue;
            int trigger = batch.InputRow(row).IndexOf(task.Special);
            log.WriteLine($"    miss at length {length}: sequence {_sequence}, trigger at {trigger} " +
                          $"(distance to the query {last - trigger}), target {target}, predicted {guess}");
        }
    }
}
