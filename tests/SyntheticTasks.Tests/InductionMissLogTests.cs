using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class InductionMissLogTests
{
    private static readonly InductionHeadsTask Task = new(vocabSize: 16);

    /// <summary>Predictions that are right everywhere except at the last position of the given rows.</summary>
    private static long[] PredictionsWrongAt(SyntheticBatch batch, params int[] wrongRows)
    {
        var predicted = new long[batch.Inputs.Length];
        for (int row = 0; row < batch.BatchSize; row++)
        {
            long target = batch.TargetRow(row)[^1];
            predicted[(row + 1) * batch.Length - 1] = wrongRows.Contains(row) ? (target + 1) % (Task.VocabSize - 1) : target;
        }
        return predicted;
    }

    [Fact]
    public void NamesEachMissWithItsTriggerAndDistanceAcrossBatches()
    {
        var random = new Random(3);
        var first = Task.Sample(random, batchSize: 4, length: 40);
        var second = Task.Sample(random, batchSize: 4, length: 40);
        var output = new StringWriter();
        var log = new InductionMissLog(Task, 40, output);
        log.Inspect(first, PredictionsWrongAt(first, 2));
        log.Inspect(second, PredictionsWrongAt(second, 1));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        int trigger = first.InputRow(2).IndexOf(Task.Special);
        long target = first.TargetRow(2)[^1];
        Assert.Contains($"sequence 2, trigger at {trigger} (distance to the query {39 - trigger}), target {target}, " +
                        $"predicted {(target + 1) % 15}", lines[0]);
        Assert.Contains("sequence 5, trigger at", lines[1]);   // the second batch continues the numbering
    }

    [Fact]
    public void StopsListingAfterTheCapAndSaysSo()
    {
        var batch = Task.Sample(new Random(5), batchSize: 6, length: 20);
        var output = new StringWriter();
        new InductionMissLog(Task, 20, output, maxLines: 2).Inspect(batch, PredictionsWrongAt(batch, 0, 1, 2, 3, 4, 5));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains("further misses not shown", lines[2]);
    }

    [Fact]
    public void SavesEachListedSequenceOneBytePerToken()
    {
        var batch = Task.Sample(new Random(11), batchSize: 3, length: 25);
        string folder = Path.Combine(Path.GetTempPath(), "mamba-misses-" + Guid.NewGuid().ToString("N"));
        try
        {
            var output = new StringWriter();
            new InductionMissLog(Task, 25, output, dumpDirectory: folder).Inspect(batch, PredictionsWrongAt(batch, 1));

            string file = Path.Combine(folder, "miss-length25-sequence1.tokens");
            Assert.Contains($"tokens in {file}", output.ToString());
            Assert.Equal(batch.InputRow(1).ToArray(), File.ReadAllBytes(file).Select(b => (long)b).ToArray());
            Assert.Single(Directory.GetFiles(folder));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void RightPredictionsPrintNothing()
    {
        var batch = Task.Sample(new Random(9), batchSize: 8, length: 30);
        var output = new StringWriter();
        new InductionMissLog(Task, 30, output).Inspect(batch, PredictionsWrongAt(batch));
        Assert.Equal("", output.ToString());
    }
}
