using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>The multiclass pipeline of issue #19: MapValueToKey, the Mamba trainer, MapKeyToValue, trained once.</summary>
public sealed class NamedTopicPipeline
{
    public NamedTopicPipeline()
    {
        MLContext = new MLContext(seed: 5);
        Train = MLContext.Data.LoadFromEnumerable(TopicRows.Make(64, seed: 5));
        Pipeline = MLContext.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic))
            .Append(MLContext.MulticlassClassification.Trainers.Mamba(MambaTrainingBehaviourTests.Quick(epochs: 2)))
            .Append(MLContext.Transforms.Conversion.MapKeyToValue("PredictedTopic", "PredictedLabel"));
        Model = Pipeline.Fit(Train);
    }

    public MLContext MLContext { get; }
    public IDataView Train { get; }
    public IEstimator<ITransformer> Pipeline { get; }
    public ITransformer Model { get; }
}

/// <summary>A prediction read through MapKeyToValue after the trainer.</summary>
public sealed class NamedTopicPrediction
{
    public string PredictedTopic { get; set; } = "";
    public float[] Score { get; set; } = [];
}

/// <summary>
/// The standard ML.NET patterns around a multiclass trainer work with the Mamba trainer as they do with
/// SdcaMaximumEntropy: MapKeyToValue after it, schema propagation through GetOutputSchema, Evaluate,
/// PredictionEngine, Save/Load and CrossValidate.
/// </summary>
public class MambaConformanceTests(NamedTopicPipeline named) : IClassFixture<NamedTopicPipeline>
{
    private MLContext Ml => named.MLContext;

    [Fact]
    public void MapKeyToValueAfterTheTrainerGivesTheTopicNames()
    {
        var topics = named.Model.Transform(named.Train).GetColumn<string>("PredictedTopic").ToArray();
        Assert.Equal(64, topics.Length);
        Assert.All(topics, t => Assert.Contains(t, TopicRows.Topics));
    }

    [Fact]
    public void GetOutputSchemaOfTheChainAnnouncesWhatTheFittedChainProduces()
    {
        var announced = named.Pipeline.GetOutputSchema(MLNetInternalsBridge.CreateSchemaShape(named.Train.Schema));
        var produced = MLNetInternalsBridge.CreateSchemaShape(named.Model.Transform(named.Train).Schema);
        foreach (var column in produced)
        {
            var shape = Assert.Single(announced, c => c.Name == column.Name);
            Assert.Equal((column.Kind, column.ItemType, column.IsKey), (shape.Kind, shape.ItemType, shape.IsKey));
            Assert.Equal(column.Annotations.Select(a => a.Name).Order(), shape.Annotations.Select(a => a.Name).Order());
        }
        Assert.Equal(TextDataViewType.Instance, announced.Single(c => c.Name == "PredictedTopic").ItemType);
    }

    [Fact]
    public void TheTrainersOutputShapeMatchesSdcaMaximumEntropys()
    {
        var data = MLNetInternalsBridge.CreateSchemaShape(named.Train.Schema);
        var key = Ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic));
        var sdca = key.Append(Ml.Transforms.Text.FeaturizeText("Features", nameof(TopicRow.Text)))
            .Append(Ml.MulticlassClassification.Trainers.SdcaMaximumEntropy())
            .Append(Ml.Transforms.Conversion.MapKeyToValue("PredictedTopic", "PredictedLabel")).GetOutputSchema(data);
        var mamba = named.Pipeline.GetOutputSchema(data);
        foreach (var name in new[] { "Score", "PredictedLabel", "PredictedTopic" })
        {
            var expected = sdca.Single(c => c.Name == name);
            var actual = mamba.Single(c => c.Name == name);
            Assert.Equal((expected.Kind, expected.ItemType, expected.IsKey), (actual.Kind, actual.ItemType, actual.IsKey));
        }
        Assert.Contains(mamba.Single(c => c.Name == "PredictedLabel").Annotations, a => a.Name == "KeyValues");
        Assert.Contains(mamba.Single(c => c.Name == "Score").Annotations, a => a.Name == "SlotNames");
    }

    [Fact]
    public void EvaluateReadsTheChainsOutput()
    {
        var metrics = Ml.MulticlassClassification.Evaluate(named.Model.Transform(named.Train));
        Assert.InRange(metrics.MicroAccuracy, 0, 1);
        Assert.Equal(3, metrics.PerClassLogLoss.Count);
    }

    [Fact]
    public void PredictionEngineReadsTheTopicName()
    {
        var engine = Ml.Model.CreatePredictionEngine<TopicRow, NamedTopicPrediction>(named.Model);
        var expected = named.Model.Transform(Ml.Data.LoadFromEnumerable(TopicRows.Make(3, seed: 8))).GetColumn<string>("PredictedTopic").ToArray();
        var rows = TopicRows.Make(3, seed: 8);
        for (int i = 0; i < rows.Count; i++)
        {
            var prediction = engine.Predict(rows[i]);
            Assert.Equal(expected[i], prediction.PredictedTopic);
            Assert.Equal(3, prediction.Score.Length);
        }
    }

    [Fact]
    public void SaveAndLoadKeepTheTopicNames()
    {
        var stream = new MemoryStream();
        Ml.Model.Save(named.Model, named.Train.Schema, stream);
        stream.Position = 0;
        var fresh = new MLContext(seed: 1);
        MambaModelLoader.Register(fresh);
        var loaded = fresh.Model.Load(stream, out _);
        var test = TopicRows.Make(20, seed: 6);
        Assert.Equal(named.Model.Transform(Ml.Data.LoadFromEnumerable(test)).GetColumn<string>("PredictedTopic"),
            loaded.Transform(fresh.Data.LoadFromEnumerable(test)).GetColumn<string>("PredictedTopic"));
    }

    [Fact]
    public void CrossValidateTrainsAndEvaluatesEachFold()
    {
        var ml = new MLContext(seed: 7);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(48, seed: 7));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic))
            .Append(ml.MulticlassClassification.Trainers.Mamba(MambaTrainingBehaviourTests.Quick(epochs: 1)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedTopic", "PredictedLabel"));
        var folds = ml.MulticlassClassification.CrossValidate(data, pipeline, numberOfFolds: 2);
        Assert.Equal(2, folds.Count);
        Assert.All(folds, f => Assert.InRange(f.Metrics.MicroAccuracy, 0, 1));
        Assert.All(folds, f => Assert.Contains(f.ScoredHoldOutSet.GetColumn<string>("PredictedTopic"), t => TopicRows.Topics.Contains(t)));
    }

    [Theory]
    [InlineData(MambaTask.BinaryClassification)]
    [InlineData(MambaTask.Regression)]
    public void BinaryAndRegressionTrainersAnnounceWhatTheirTransformerProduces(MambaTask task)
    {
        var ml = new MLContext(seed: 1);
        var rows = TopicRows.Make(16, seed: 1);
        var data = task == MambaTask.Regression
            ? ml.Data.LoadFromEnumerable(rows.Select(r => new { r.Text, Label = r.Amount }))
            : ml.Data.LoadFromEnumerable(rows.Select(r => new { r.Text, Label = r.Flag }));
        IEstimator<ITransformer> trainer = task == MambaTask.Regression
            ? ml.Regression.Trainers.Mamba(MambaTrainingBehaviourTests.Quick())
            : ml.BinaryClassification.Trainers.Mamba(MambaTrainingBehaviourTests.Quick());
        var announced = trainer.GetOutputSchema(MLNetInternalsBridge.CreateSchemaShape(data.Schema));
        var produced = MLNetInternalsBridge.CreateSchemaShape(trainer.Fit(data).Transform(data).Schema);
        Assert.Equal(produced.Select(c => c.Name), announced.Select(c => c.Name));
        foreach (var column in produced)
        {
            var shape = announced.Single(c => c.Name == column.Name);
            Assert.Equal((column.Kind, column.ItemType, column.IsKey), (shape.Kind, shape.ItemType, shape.IsKey));
            Assert.Equal(column.Annotations.Select(a => a.Name).Order(), shape.Annotations.Select(a => a.Name).Order());
        }
    }

    [Fact]
    public void GetOutputSchemaRefusesALabelOfTheWrongTypeNamingIt()
    {
        var shape = MLNetInternalsBridge.CreateSchemaShape(named.Train.Schema); // Topic is text, not a key
        var options = MambaTrainingBehaviourTests.Quick();
        options.LabelColumnName = nameof(TopicRow.Topic);
        var multiclass = Assert.Throws<ArgumentOutOfRangeException>(() => Ml.MulticlassClassification.Trainers.Mamba(options).GetOutputSchema(shape));
        Assert.Contains("'Topic'", multiclass.Message);
        Assert.Contains("MapValueToKey", multiclass.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ml.BinaryClassification.Trainers.Mamba(options).GetOutputSchema(shape));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ml.Regression.Trainers.Mamba(options).GetOutputSchema(shape));
    }
}
