using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class SelectiveCopyingTaskTests
{
    private static readonly SelectiveCopyingTask Task = new(vocabSize: 16, dataTokens: 16);

    [Fact]
    public void ShapesAndTokenRanges()
    {
        var batch = Task.Sample(new Random(1), batchSize: 5, length: 200);
        Assert.Equal(5 * 200, batch.Inputs.Length);
        Assert.Equal(5 * 200, batch.Targets.Length);
        Assert.All(batch.Inputs, t => Assert.InRange(t, 0, Task.VocabSize - 1));
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var target = batch.TargetRow(row).ToArray();
            int context = 200 - Task.DataTokens;
            // Context: noise and exactly 16 data tokens, no marker; then 16 markers.
            Assert.Equal(Task.DataTokens, input.Take(context).Count(t => t != SelectiveCopyingTask.Noise));
            Assert.DoesNotContain(Task.Marker, input.Take(context));
            Assert.All(input.Skip(context), t => Assert.Equal(Task.Marker, t));
            // Only marker positions are scored, and only with data tokens.
            Assert.All(target.Take(context), t => Assert.Equal(SyntheticBatch.Ignore, t));
            Assert.All(target.Skip(context), t => Assert.InRange(t, 1, Task.VocabSize - 2));
        }
    }

    [Fact]
    public void TheAnswerIsTheDataTokensInOrder()
    {
        var batch = Task.Sample(new Random(2), batchSize: 8, length: 64);
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var expected = input.Where(t => t != SelectiveCopyingTask.Noise && t != Task.Marker).ToArray();
            var answers = batch.TargetRow(row).ToArray().Where(t => t != SyntheticBatch.Ignore).ToArray();
            Assert.Equal(expected, answers);
        }
    }

    [Fact]
    public void DataPositionsVaryAcrossSequences()
    {
        // If positions were fixed a time-invariant model could solve the task; the point is that they are random.
        var batch = Task.Sample(new Random(3), batchSize: 32, length: 128);
        var layouts = Enumerable.Range(0, batch.BatchSize)
            .Select(r => string.Join(",", batch.InputRow(r).ToArray().Select((t, i) => (t, i)).Where(p => p.t != 0 && p.t != Task.Marker).Select(p => p.i)))
            .Distinct().Count();
        Assert.True(layouts > 30, $"only {layouts} distinct layouts in 32 sequences");
    }

    [Fact]
    public void SameSeedSameBatchDifferentSeedDifferentBatch()
    {
        var a = Task.Sample(new Random(42), 4, 100);
        var b = Task.Sample(new Random(42), 4, 100);
        var c = Task.Sample(new Random(43), 4, 100);
        Assert.Equal(a.Inputs, b.Inputs);
        Assert.Equal(a.Targets, b.Targets);
        Assert.NotEqual(a.Inputs, c.Inputs);
    }

    [Fact]
    public void WorksAtThePapersLengthAndRejectsTooShort()
    {
        var batch = Task.Sample(new Random(4), 1, 4096);
        Assert.Equal(16, batch.Targets.Count(t => t != SyntheticBatch.Ignore));
        var tight = Task.Sample(new Random(5), 1, Task.MinimumLength);  // every context slot holds data
        Assert.DoesNotContain(SelectiveCopyingTask.Noise, tight.Inputs);
        Assert.Throws<ArgumentOutOfRangeException>(() => Task.Sample(new Random(6), 1, Task.MinimumLength - 1));
    }
}
