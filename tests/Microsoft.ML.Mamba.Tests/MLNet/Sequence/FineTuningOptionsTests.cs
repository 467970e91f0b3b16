using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>The fine-tuning settings of <see cref="MambaTrainerOptions"/>, on a one-layer network and a few rows.</summary>
[Collection(nameof(SeededTraining))]   // compares fits that must start from the same seeded weights
public class FineTuningOptionsTests
{
    private static (MLContext Ml, IDataView Data) Rows(int count = 24)
    {
        var ml = new MLContext(seed: 4);
        return (ml, ml.Data.LoadFromEnumerable(TopicRows.Make(count, 6).Select(r => new { r.Text, Label = r.Flag })));
    }

    private static MambaTrainerOptions Tiny() => new()
    {
        TextColumnNames = ["Text"], NumberOfEpochs = 1, BatchSize = 8, MaxSequenceLength = 24, LearningRate = 1e-2, Seed = 11,
        NetworkConfig = TrainedTopicModel.TinyNetwork(), EarlyStoppingPatience = 0,
    };

    private static Dictionary<string, float[]> Weights(MambaTransformer model) =>
        model.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());

    private static double LargestChange(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));

    [Fact]
    public void ABackboneFactorSlowsTheBackboneButNotTheHead()
    {
        var (ml, data) = Rows();
        using var first = ml.BinaryClassification.Trainers.Mamba(Tiny()).Fit(data);
        string directory = Directory.CreateTempSubdirectory("mamba-factor-").FullName;
        try
        {
            first.SaveNetwork(directory);
            var start = Weights(first);
            var options = Tiny();
            options.NetworkConfig = null;
            options.PretrainedModelDirectory = directory;
            options.BackboneLearningRateFactor = 1e-4;
            using var tuned = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
            foreach (var (name, weights) in Weights(tuned))
            {
                double change = LargestChange(start[name], weights);
                if (name.StartsWith("score.", StringComparison.Ordinal)) Assert.True(change > 1e-3, $"{name} moved only {change}");
                else Assert.True(change < 1e-4, $"{name} moved {change}");
            }
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    [Fact]
    public void DomainAdaptivePretrainingReadsTheRowsAndTheUnlabeledTextBeforeTheHeadTrains()
    {
        var (ml, data) = Rows();
        using var plain = ml.BinaryClassification.Trainers.Mamba(Tiny()).Fit(data);
        int read = 0;
        IEnumerable<string> Unlabeled() { foreach (var row in TopicRows.Make(20, 9)) { read++; yield return row.Text; } }
        var options = Tiny();
        options.DomainAdaptivePretraining = new DomainAdaptivePretrainingOptions
        {
            Steps = 4, LearningRate = 1e-2, WarmupFraction = 0, BlockLength = 16, BatchSize = 4, UnlabeledTexts = Unlabeled(),
        };
        var logs = new List<string>();
        ml.Log += (_, e) => { if (e.Message.Contains("domain-adaptive", StringComparison.Ordinal)) lock (logs) logs.Add(e.Message); };
        using var adapted = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
        Assert.Equal(20, read);
        Assert.Contains(logs, l => l.Contains("4 steps", StringComparison.Ordinal));
        // Same seed, same batches: only the adaptation differs, and it changed the backbone the head was trained on.
        Assert.NotEqual(Weights(plain)["backbone.layers.0.mixer.in_proj.weight"], Weights(adapted)["backbone.layers.0.mixer.in_proj.weight"]);
    }

    [Fact]
    public void PlanningMoreEpochsKeepsTheWarmUpOfTheFirstSteps()
    {
        double RateAtStep(int epochs, int step)
        {
            var (ml, data) = Rows(16);
            var options = Tiny();
            options.BatchSize = 1;
            options.NumberOfEpochs = epochs;
            options.LogEveryNumberOfSteps = 1;
            using var stop = new CancellationTokenSource();
            options.CancellationToken = stop.Token;
            options.Progress = new StopAt(step, stop);
            double? rate = null;
            ml.Log += (_, e) =>
            {
                var m = System.Text.RegularExpressions.Regex.Match(e.Message, $@" step {step}/\d+ .* lr (\S+) ");
                if (m.Success) rate = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            };
            Assert.Throws<OperationCanceledException>(() => ml.BinaryClassification.Trainers.Mamba(options).Fit(data));
            return rate ?? throw new InvalidOperationException("no log line for the step");
        }
        // 16 steps an epoch, warm-up 10% of at most 3 epochs' steps = 5 steps, whatever the plan.
        Assert.Equal(RateAtStep(3, 4), RateAtStep(12, 4), 6);
        Assert.Equal(1e-2 * 4 / 5, RateAtStep(12, 4), 6);
    }

    private sealed class StopAt(int step, CancellationTokenSource stop) : IProgress<MambaTrainingProgress>
    {
        public void Report(MambaTrainingProgress value) { if (value.Step >= step) stop.Cancel(); }
    }

    [Theory]
    [InlineData(nameof(MambaTrainerOptions.BackboneLearningRateFactor))]
    [InlineData(nameof(MambaTrainerOptions.LayerLearningRateDecay))]
    [InlineData(nameof(MambaTrainerOptions.HeadDropout))]
    [InlineData("Steps")]
    public void OutOfRangeFineTuningSettingsAreRefusedByName(string setting)
    {
        var options = Tiny();
        switch (setting)
        {
            case nameof(MambaTrainerOptions.BackboneLearningRateFactor): options.BackboneLearningRateFactor = 0; break;
            case nameof(MambaTrainerOptions.LayerLearningRateDecay): options.LayerLearningRateDecay = 1.5; break;
            case nameof(MambaTrainerOptions.HeadDropout): options.HeadDropout = 1; break;
            default: options.DomainAdaptivePretraining = new() { Steps = 0 }; break;
        }
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(setting, e.Message);
    }
}

/// <summary>Gradual unfreezing: the head first, then the layers from the top down, the embeddings last.</summary>
[Collection(nameof(SeededTraining))]   // compares fits that must start from the same seeded weights
public class GradualUnfreezingTests
{
    private static Dictionary<string, float[]> Weights(MambaTransformer model) =>
        model.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());

    [Fact]
    public void EachEpochThawsOneMoreLayerFromTheTop()
    {
        var ml = new MLContext(seed: 4);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(16, 6).Select(r => new { r.Text, Label = r.Flag }));
        var network = TrainedTopicModel.TinyNetwork();
        network.NumHiddenLayers = 2;
        MambaTrainerOptions Options(int epochs, bool gradual) => new()
        {
            TextColumnNames = ["Text"], NumberOfEpochs = epochs, BatchSize = 8, MaxSequenceLength = 16, LearningRate = 1e-2, Seed = 11,
            NetworkConfig = network, EarlyStoppingPatience = 0, GradualUnfreezing = gradual,
        };
        // Epoch 0 = the initial weights: the same seed with a learning rate that cannot move them.
        var start = Options(1, false);
        start.LearningRate = 1e-30;
        using var initial = ml.BinaryClassification.Trainers.Mamba(start).Fit(data);
        var before = Weights(initial);
        // (A 1e-30 step still moves a weight of exactly 0, such as A_log's first entry, by about 1e-30.)
        bool Moved(Dictionary<string, float[]> after, string prefix) => after.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal))
            .Any(p => p.Value.Zip(before[p.Key]).Any(q => Math.Abs(q.First - q.Second) > 1e-20));

        using var one = ml.BinaryClassification.Trainers.Mamba(Options(1, true)).Fit(data);
        var w1 = Weights(one);
        Assert.True(Moved(w1, "score."));
        Assert.False(Moved(w1, "backbone.layers.1."));
        Assert.False(Moved(w1, "backbone.layers.0."));

        using var two = ml.BinaryClassification.Trainers.Mamba(Options(2, true)).Fit(data);
        var w2 = Weights(two);
        Assert.True(Moved(w2, "backbone.layers.1."));
        Assert.False(Moved(w2, "backbone.layers.0."));
        Assert.False(Moved(w2, "backbone.embeddings."));
        Assert.All(two.Network.parameters(), p => Assert.True(p.requires_grad));   // nothing left frozen after training
    }
}
