using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>Mamba-2 through ML.NET: the trainers and the language-model estimator build, train, save and load it.</summary>
public class Mamba2PipelineTests
{
    private sealed class PromptRow { public string Prompt { get; set; } = ""; }
    private sealed class Continuation { public string Prompt { get; set; } = ""; public string GeneratedText { get; set; } = ""; }
    private sealed class Document { public string Text { get; set; } = ""; }

    private static float[][] Scores(IDataView scored) =>
        scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();

    [Fact]
    public void AMamba2ClassifierTrainsSavesLoadsAndPredicts()
    {
        var ml = new MLContext(seed: 1);
        var rows = TopicRows.Make(120, seed: 1);
        var train = ml.Data.LoadFromEnumerable(rows);
        var test = ml.Data.LoadFromEnumerable(TopicRows.Make(45, seed: 2));
        var options = TrainedTopicModel.Options();
        options.NetworkConfig = new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2, HiddenSize = 32, StateSize = 8, NumHiddenLayers = 1, Expand = 2, HeadDim = 16, ChunkSize = 16,
        };
        var model = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic))
            .Append(ml.MulticlassClassification.Trainers.Mamba(options)).Fit(train);
        var mamba = ((TransformerChain<MambaTransformer>)model).LastTransformer;
        Assert.Equal(MambaArchitecture.Mamba2, mamba.Network.Config.Architecture);
        Assert.IsType<Mamba2Mixer>(mamba.Network.Backbone.layers[0].mixer);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        Assert.True(metrics.MacroAccuracy > 0.6, $"macro accuracy {metrics.MacroAccuracy:F2} on keyword topics");

        using var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var fresh = new MLContext(seed: 5);
        var loaded = MambaModelLoader.Load(fresh, stream, out _);
        var loadedMamba = ((TransformerChain<ITransformer>)loaded).OfType<MambaTransformer>().Single();
        Assert.Equal(MambaArchitecture.Mamba2, loadedMamba.Network.Config.Architecture);   // the zip's config.json says so
        Assert.Equal(Scores(model.Transform(test)), Scores(loaded.Transform(fresh.Data.LoadFromEnumerable(TopicRows.Make(45, seed: 2)))));
    }

    [Fact]
    public void TheArchitectureOptionChoosesTheModelSizePresetsFamily()
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(16, 3).Select(r => new { r.Text, Label = r.Flag }));
        var options = new MambaTrainerOptions
        {
            TextColumnNames = ["Text"], NumberOfEpochs = 1, BatchSize = 8, MaxSequenceLength = 16,
            ModelSize = MambaModelSize.Tiny, Architecture = MambaArchitecture.Mamba2,
        };
        using var trained = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
        var config = trained.Network.Config;
        Assert.Equal(MambaArchitecture.Mamba2, config.Architecture);
        Assert.Equal((64, 2, 8, 16), (config.HiddenSize, config.NumHiddenLayers, config.Heads, config.HeadDim));
        Assert.All(trained.TrainingHistory!.StepLosses, loss => Assert.True(double.IsFinite(loss)));

        options.Architecture = (MambaArchitecture)7;
        Assert.Contains(nameof(MambaTrainerOptions.Architecture), Assert.ThrowsAny<ArgumentException>(() => ml.BinaryClassification.Trainers.Mamba(options).Fit(data)).Message);
    }

    [Fact]
    public void AMamba2LanguageModelTrainsGeneratesAndRoundTrips()
    {
        var ml = new MLContext(seed: 1);
        var documents = Enumerable.Range(0, 30).Select(_ => new Document { Text = "the cat sat on the mat. " }).ToList();
        var options = new MambaLanguageModelOptions
        {
            ModelSize = MambaModelSize.Tiny, Architecture = MambaArchitecture.Mamba2, ValidationFraction = 0.1, Seed = 1,
            Sampling = SamplingOptions.Greedy(8),
        };
        options.Training.BlockLength = 24;
        options.Training.BatchSize = 8;
        options.Training.MaxSteps = 6;
        options.Training.LearningRate = 1e-2;
        var model = ml.Transforms.Text.MambaLanguageModel(options).Fit(ml.Data.LoadFromEnumerable(documents));
        Assert.Equal(MambaArchitecture.Mamba2, model.Generator.Model.Config.Architecture);
        Assert.True(double.IsFinite(model.TrainingResult!.FinalLoss));

        var prompts = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "the cat" } });
        var before = ml.Data.CreateEnumerable<Continuation>(model.Transform(prompts), reuseRowObject: false).Single().GeneratedText;
        using var stream = new MemoryStream();
        ml.Model.Save(model, prompts.Schema, stream);
        stream.Position = 0;
        var fresh = new MLContext(seed: 2);
        var loaded = Assert.IsType<MambaLanguageModelTransformer>(MambaModelLoader.Load(fresh, stream, out _));
        Assert.Equal(MambaArchitecture.Mamba2, loaded.Generator.Model.Config.Architecture);
        Assert.Equal(before, fresh.Data.CreateEnumerable<Continuation>(loaded.Transform(prompts), reuseRowObject: false).Single().GeneratedText);
    }
}
