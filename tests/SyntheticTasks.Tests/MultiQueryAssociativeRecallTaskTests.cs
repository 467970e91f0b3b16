using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class MultiQueryAssociativeRecallTaskTests
{
    private static readonly MultiQueryAssociativeRecallTask Task = new(vocabSize: 64, keyValuePairs: 8);

    [Theory]
    [InlineData(32)]    // the shortest: every slot of the query region is a query
    [InlineData(64)]
    [InlineData(257)]   // odd lengths work too: the last token is filler
    public void EveryQueryIsAKeyOfThePairsAndItsTargetIsThatKeysValue(int length)
    {
        var batch = Task.Sample(new Random(length), batchSize: 32, length);
        int context = 2 * Task.KeyValuePairs;
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var target = batch.TargetRow(row).ToArray();
            var valueOf = Enumerable.Range(0, Task.KeyValuePairs).ToDictionary(i => input[2 * i], i => input[2 * i + 1]);
            var scored = Enumerable.Range(0, length).Where(t => target[t] != SyntheticBatch.Ignore).ToArray();
            Assert.Equal(Task.KeyValuePairs, scored.Length);
            foreach (int t in scored)
            {
                Assert.True(t >= context && (t - context) % 2 == 0, $"query at {t}: not an even offset of the query region");
                Assert.True(valueOf.TryGetValue(input[t], out long value), $"query {input[t]} at {t} is not a key of the pairs");
                Assert.Equal(value, target[t]);
            }
            // Every key is asked for exactly once.
            Assert.Equal(valueOf.Keys.OrderBy(k => k), scored.Select(t => input[t]).OrderBy(k => k));
        }
    }

    [Fact]
    public void KeysAndValuesAreDistinctAndFromDisjointHalvesOfTheVocabulary()
    {
        var batch = Task.Sample(new Random(3), batchSize: 64, length: 64);
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var keys = Enumerable.Range(0, Task.KeyValuePairs).Select(i => input[2 * i]).ToArray();
            var values = Enumerable.Range(0, Task.KeyValuePairs).Select(i => input[2 * i + 1]).ToArray();
            Assert.Equal(keys.Length, keys.Distinct().Count());
            Assert.Equal(values.Length, values.Distinct().Count());
            Assert.All(keys, k => Assert.InRange(k, 1, Task.FirstValue - 1));          // never the filler 0
            Assert.All(values, v => Assert.InRange(v, Task.FirstValue, Task.VocabSize - 1));
        }
    }

    [Fact]
    public void OnlyTheQueriesAreScoredAndTheRestOfTheQueryRegionIsFiller()
    {
        var batch = Task.Sample(new Random(4), batchSize: 16, length: 100);
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var target = batch.TargetRow(row).ToArray();
            for (int t = 0; t < input.Length; t++)
            {
                bool query = t >= 2 * Task.KeyValuePairs && target[t] != SyntheticBatch.Ignore;
                if (t < 2 * Task.KeyValuePairs) Assert.Equal(SyntheticBatch.Ignore, target[t]);   // the pairs themselves are not scored
                else if (!query) Assert.Equal(MultiQueryAssociativeRecallTask.Filler, input[t]);
            }
        }
    }

    [Fact]
    public void TheLossSeesOnlyTheQueryPositions()
    {
        var batch = Task.Sample(new Random(5), batchSize: 4, length: 40);
        var (_, targets) = batch.ToTensors(CPU);
        var logits = randn(4, 40, Task.VocabSize, generator: new Generator(1));
        var unscored = targets.eq(SyntheticBatch.Ignore).unsqueeze(-1);
        // Changing the logits everywhere but at the queries leaves the loss as it was.
        var changed = where(unscored, logits * 5 + 3, logits);
        Assert.Equal(SyntheticTrainer.Loss(logits, targets).item<float>(), SyntheticTrainer.Loss(changed, targets).item<float>());
        var atQueries = where(unscored, logits, logits * 5 + 3);
        Assert.NotEqual(SyntheticTrainer.Loss(logits, targets).item<float>(), SyntheticTrainer.Loss(atQueries, targets).item<float>());
    }

    [Fact]
    public void QueriesComeInARandomOrderNotThatOfThePairs()
    {
        var batch = Task.Sample(new Random(6), batchSize: 32, length: 64);
        int inPairOrder = 0;
        for (int row = 0; row < batch.BatchSize; row++)
        {
            var input = batch.InputRow(row).ToArray();
            var target = batch.TargetRow(row).ToArray();
            var pairOrder = Enumerable.Range(0, Task.KeyValuePairs).Select(i => input[2 * i]);
            var queryOrder = Enumerable.Range(0, input.Length).Where(t => target[t] != SyntheticBatch.Ignore).Select(t => input[t]);
            if (pairOrder.SequenceEqual(queryOrder)) inPairOrder++;
        }
        Assert.True(inPairOrder <= 1, $"{inPairOrder} of 32 rows asked in the order of the pairs");
    }

    [Fact]
    public void PowerLawGapsFavourEarlyQueriesAndPowerOneIsUniform()
    {
        // Length 256 with 8 pairs: 120 query slots. Share of queries in the first tenth (12 slots) of the region.
        double EarlyShare(double powerA)
        {
            var task = new MultiQueryAssociativeRecallTask(vocabSize: 64, keyValuePairs: 8, powerA: powerA);
            var batch = task.Sample(new Random(7), batchSize: 200, length: 256);
            var gaps = batch.Targets.Select((v, i) => (v, t: i % 256)).Where(x => x.v != SyntheticBatch.Ignore).Select(x => (x.t - 16) / 2).ToArray();
            return gaps.Count(g => g < 12) / (double)gaps.Length;
        }
        double skewed = EarlyShare(0.01), uniform = EarlyShare(1.0);
        Assert.True(skewed > 0.25, $"with a = 0.01 only {skewed:P0} of the queries fell in the first tenth");
        Assert.InRange(uniform, 0.07, 0.13);
    }

    [Fact]
    public void RandomFillerFillsTheGapsWithTokensFromTheWholeVocabulary()
    {
        var task = new MultiQueryAssociativeRecallTask(vocabSize: 64, keyValuePairs: 8, randomFiller: true);
        var batch = task.Sample(new Random(8), batchSize: 8, length: 128);
        var filler = Enumerable.Range(0, batch.Inputs.Length)
            .Where(i => i % 128 >= 16 && batch.Targets[i] == SyntheticBatch.Ignore).Select(i => batch.Inputs[i]).ToArray();
        Assert.True(filler.Distinct().Count() > 50, "the filler should use most of the vocabulary");
        Assert.All(filler, t => Assert.InRange(t, 0, 63));
    }

    [Fact]
    public void SameSeedSameBatchDifferentSeedDifferentBatch()
    {
        var a = Task.Sample(new Random(42), 4, 64);
        var b = Task.Sample(new Random(42), 4, 64);
        var c = Task.Sample(new Random(43), 4, 64);
        Assert.Equal(a.Inputs, b.Inputs);
        Assert.Equal(a.Targets, b.Targets);
        Assert.NotEqual(a.Inputs, c.Inputs);
    }

    [Fact]
    public void RejectsSizesThatDoNotFit()
    {
        var tooShort = Assert.Throws<ArgumentOutOfRangeException>(() => Task.Sample(new Random(1), 1, Task.MinimumLength - 1));
        Assert.Equal("length", tooShort.ParamName);
        Assert.Equal("vocabSize", Assert.Throws<ArgumentOutOfRangeException>(() => new MultiQueryAssociativeRecallTask(vocabSize: 16, keyValuePairs: 8)).ParamName);
        Assert.Equal("powerA", Assert.Throws<ArgumentOutOfRangeException>(() => new MultiQueryAssociativeRecallTask(64, 8, powerA: 0)).ParamName);
        Assert.Equal("keyValuePairs", Assert.Throws<ArgumentOutOfRangeException>(() => new MultiQueryAssociativeRecallTask(64, 0)).ParamName);
    }
}
