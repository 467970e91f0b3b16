using Microsoft.ML.Mamba.Text;
using Microsoft.ML.Mamba.Training;
using TorchSharp;

namespace Microsoft.ML.Mamba.Tests.Training;

public class TrainingPartsTests
{
    [Fact]
    public void ScheduleWarmsUpThenDecaysToZero()
    {
        var s = new LearningRateSchedule(1.0, 100, 0.1, LearningRateDecay.Cosine);
        Assert.Equal(0.1, s.At(0), 6);
        Assert.Equal(1.0, s.At(9), 6);
        Assert.Equal(1.0, s.At(10), 6);
        Assert.True(s.At(55) < 0.6 && s.At(55) > 0.4);
        Assert.True(s.At(99) < 0.01);
        var linear = new LearningRateSchedule(2.0, 10, 0, LearningRateDecay.Linear);
        Assert.Equal(2.0, linear.At(0), 6);
        Assert.Equal(1.0, linear.At(5), 6);
        Assert.Equal(2.0, new LearningRateSchedule(2.0, 10, 0, LearningRateDecay.Constant).At(9), 6);
    }

    [Fact]
    public void BucketedBatchesCoverEveryRowOnceAndGroupSimilarLengths()
    {
        var random = new Random(3);
        var lengths = Enumerable.Range(0, 1000).Select(_ => random.Next(1, 200)).ToArray();
        var batches = LengthBucketBatcher.MakeBatches(lengths, 10, new Random(1));
        Assert.Equal(Enumerable.Range(0, 1000), batches.SelectMany(b => b).Order());
        double spread = batches.Average(b => b.Max(i => lengths[i]) - b.Min(i => lengths[i]));
        Assert.True(spread < 20, $"mean length spread inside a batch {spread:F1} (unsorted would be ~160)");
        Assert.NotEqual(batches.Select(b => b[0]), LengthBucketBatcher.MakeBatches(lengths, 10, new Random(2)).Select(b => b[0]));
        Assert.Equal(batches.Select(b => b[0]), LengthBucketBatcher.MakeBatches(lengths, 10, new Random(1)).Select(b => b[0]));
    }

    [Fact]
    public void PaddedBatchRightPadsWithAMaskAndGivesEmptyRowsAFillerToken()
    {
        var (ids, mask) = PaddedBatch.Create([[5, 6, 7], [], [8]], padId: 0, fillerId: 1, torch.CPU);
        Assert.Equal(new long[] { 3, 3 }, ids.shape);
        Assert.Equal(new long[] { 5, 6, 7, 1, 0, 0, 8, 0, 0 }, ids.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0, 1, 0, 0 }, mask.data<long>().ToArray());
    }

    [Theory]
    [InlineData("backbone.layers.3.mixer.A_log", true)]
    [InlineData("backbone.layers.3.mixer.D", true)]
    [InlineData("backbone.layers.3.norm.weight", true)]
    [InlineData("backbone.norm_f.weight", true)]
    [InlineData("backbone.layers.0.mixer.dt_proj.bias", true)]
    [InlineData("backbone.layers.0.mixer.conv1d.bias", true)]
    [InlineData("backbone.layers.0.mixer.dt_bias", true)]        // Mamba-2's Δ bias
    [InlineData("backbone.layers.0.mixer.norm.weight", true)]    // Mamba-2's gated norm
    [InlineData("score.bias", true)]
    [InlineData("score.weight", false)]
    [InlineData("backbone.embeddings.weight", false)]
    [InlineData("backbone.layers.0.mixer.in_proj.weight", false)]
    [InlineData("backbone.layers.0.mixer.dt_proj.weight", false)]
    public void WeightDecaySkipsALogDNormsAndBiases(string name, bool excluded) =>
        Assert.Equal(excluded, ParameterGroups.IsExcludedFromWeightDecay(name));

    [Fact]
    public void FreezingTouchesEmbeddingsAndLowerLayersOnly()
    {
        var model = new Microsoft.ML.Mamba.Modeling.MambaForSequenceClassification(
            new() { VocabSize = 20, HiddenSize = 8, StateSize = 2, NumHiddenLayers = 3 }, 2);
        var named = model.named_parameters().ToList();
        ParameterGroups.Freeze(named, embeddings: true, frozenLayers: 2);
        foreach (var (name, p) in named)
        {
            bool shouldFreeze = name.Contains("embeddings") || name.Contains("layers.0.") || name.Contains("layers.1.");
            Assert.True(p.requires_grad != shouldFreeze, name);
        }
    }

    [Fact]
    public void RowFormatterWritesNameValueFields()
    {
        var f = new RowTextFormatter(["Subject", "Body", "Size", "Spam", "Kind"]);
        Assert.Equal("Subject: hi\nSize: 12.5\nSpam: true\nKind: missing",
            f.Format(["hi", "  ", 12.5f, true, double.NaN]));
        Assert.Equal("just text", new RowTextFormatter(["Text"]).Format([" just text "]));
        Assert.Equal("", new RowTextFormatter(["Text"]).Format([null]));
        Assert.Throws<ArgumentException>(() => f.Format(["only one"]));
    }
}
