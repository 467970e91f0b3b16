using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class InductionHeadsTaskTests
{
    private static readonly InductionHeadsTask Task = new(vocabSize: 16);

    [Theory]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(1000)]
    public void SpecialTokenTwiceAndOnlyTheLastPositionScored(int length)
    {
        var batch = Task.Sample(new Random(length), batchSize: 16, length);
        Assert.All(batch.Inputs, t => Assert.InRange(t, 0, Task.VocabSize - 1));
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var target = batch.TargetRow(row).ToArray();
            Assert.Equal(2, input.Count(t => t == Task.Special));
            Assert.Equal(Task.Special, input[^1]);
            Assert.All(target[..^1], t => Assert.Equal(SyntheticBatch.Ignore, t));
            Assert.InRange(target[^1], 0, Task.VocabSize - 2);
        }
    }

    [Fact]
    public void TheAnswerIsTheTokenAfterTheFirstSpecial()
    {
        var batch = Task.Sample(new Random(7), batchSize: 64, length: 50);
        var firstPositions = new HashSet<int>();
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            int first = Array.IndexOf(input, Task.Special);
            Assert.True(first < input.Length - 2, "the pair must come before the query");
            Assert.Equal(input[first + 1], batch.TargetRow(row)[^1]);
            firstPositions.Add(first);
        }
        Assert.True(firstPositions.Count > 20, "the pair's position should be random");
    }

    [Fact]
    public void SameSeedSameBatchDifferentSeedDifferentBatch()
    {
        var a = Task.Sample(new Random(42), 4, 256);
        var b = Task.Sample(new Random(42), 4, 256);
        var c = Task.Sample(new Random(43), 4, 256);
        Assert.Equal(a.Inputs, b.Inputs);
        Assert.Equal(a.Targets, b.Targets);
        Assert.NotEqual(a.Inputs, c.Inputs);
    }

    [Fact]
    public void RejectsSequencesTooShortForThePattern() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Task.Sample(new Random(1), 1, InductionHeadsTask.MinimumLength - 1));
}
