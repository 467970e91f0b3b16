namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Prints the induction-heads test sequences a model gets wrong, with how far the trigger was from the query.
/// Whether misses at long lengths come from long distances (memory fading) or happen anywhere (something else,
/// such as a rare token pattern) is what this tells apart. With a dump folder it also saves each listed sequence,
/// one byte per token, for offline analysis (tools/analysis/induction_memory.py --tokens FILE).
/// </summary>
public sealed class InductionMissLog
{
    private readonly InductionHeadsTask _task;
    private readonly int _length;
    private readonly TextWriter _log;
    private readonly int _maxLines;
    private readonly string? _dumpDirectory;
    private int _sequence;
    private int _printed;

    public InductionMissLog(InductionHeadsTask task, int length, TextWriter log, int maxLines = 50, string? dumpDirectory = null)
    {
        if (dumpDirectory is not null && task.VocabSize > 256)
            throw new ArgumentException($"saving missed sequences stores one byte per token; vocabulary {task.VocabSize} does not fit");
        (_task, _length, _log, _maxLines, _dumpDirectory) = (task, length, log, maxLines, dumpDirectory);
        if (dumpDirectory is not null) Directory.CreateDirectory(dumpDirectory);
    }

    /// <summary>For <see cref="SyntheticTrainer.Accuracy"/>: one batch and its argmax predictions.</summary>
    public void Inspect(SyntheticBatch batch, long[] predicted)
    {
        for (int row = 0; row < batch.BatchSize; row++, _sequence++)
        {
            int last = batch.Length - 1;
            long target = batch.TargetRow(row)[last];
            long guess = predicted[(long)row * batch.Length + last];
            if (guess == target) continue;
            if (_printed++ == _maxLines) { _log.WriteLine($"    (length {_length}: further misses not shown)"); continue; }
            if (_printed > _maxLines) continue;
            var input = batch.InputRow(row);
            int trigger = input.IndexOf(_task.Special);
            string saved = _dumpDirectory is null ? "" : $", tokens in {Save(input)}";
            _log.WriteLine($"    miss at length {_length}: sequence {_sequence}, trigger at {trigger} " +
                           $"(distance to the query {last - trigger}), target {target}, predicted {guess}{saved}");
        }
    }

    private string Save(ReadOnlySpan<long> tokens)
    {
        var bytes = new byte[tokens.Length];
        for (int i = 0; i < tokens.Length; i++) bytes[i] = (byte)tokens[i];
        string path = Path.Combine(_dumpDirectory!, $"miss-length{_length}-sequence{_sequence}.tokens");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
