using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>Fit-time behaviour: reproducibility, cancellation, multi-column rows, binary and regression, bad input.</summary>
public class MambaTrainingBehaviourTests
{
    internal static MambaTrainerOptions Quick(int epochs = 1) => new()
    {
        TextColumnNames = [nameof(TopicRow.Text)],
        NumberOfEpochs = epochs,
        BatchSize = 8,
        LearningRate = 3e-3,
        MaxSequenceLength = 48,
        NetworkConfig = TrainedTopicModel.TinyNetwork(),
    };

    internal static (MLContext Ml, IDataView Data) Topics(int rows, int mlSeed, int dataSeed = 1)
    {
        var ml = new MLContext(seed: mlSeed);
        var data = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic)).Fit(ml.Data.LoadFromEnumerable(TopicRows.Make(rows, dataSeed)))
            .Transform(ml.Data.LoadFromEnumerable(TopicRows.Make(rows, dataSeed)));
        return (ml, data);
    }

    internal static float[] FirstScores(ITransformer model, IDataView data) =>
        model.Transform(data).GetColumn<VBuffer<float>>("Score").SelectMany(v => v.DenseValues()).ToArray();

    [Fact]
    public void CancellationTokenStopsTrainingWithinOneBatch()
    {
        var (ml, data) = Topics(64, 1);
        var reports = new List<MambaTrainingProgress>();
        using var cancel = new CancellationTokenSource();
        var options = Quick(epochs: 3);
        options.CancellationToken = cancel.Token;
        options.Progress = new SyncProgress(p => { reports.Add(p); if (p.Step == 1) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(data));
        Assert.Equal(1, reports.Max(r => r.Step)); // 24 steps were planned
    }

    [Fact]
    public void MLNetsOwnCancelExecutionStopsTrainingWithinOneBatch()
    {
        var (ml, data) = Topics(64, 1);
        // ML.NET 5.0 keeps MLContext.CancelExecution non-public (AutoML calls it); reach it as AutoML would.
        var cancelExecution = typeof(MLContext).GetMethods(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Single(m => m.Name.EndsWith("CancelExecution") && m.GetParameters().Length == 0);
        var reports = new List<MambaTrainingProgress>();
        var options = Quick(epochs: 3);
        options.Progress = new SyncProgress(p => { reports.Add(p); if (p.Step == 1) cancelExecution.Invoke(ml, null); });
        Assert.ThrowsAny<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(data));
        Assert.Equal(1, reports.Max(r => r.Step));
    }

    [Fact]
    public void ProgressAndLogReportEpochsStepsLossAndThroughput()
    {
        var (ml, data) = Topics(32, 1);
        var log = new List<string>();
        ml.Log += (_, e) => { if (e.Message.Contains("Mamba")) lock (log) log.Add(e.Message); };
        var reports = new List<MambaTrainingProgress>();
        var options = Quick(epochs: 2);
        options.LogEveryNumberOfSteps = 2;
        options.Progress = new SyncProgress(reports.Add);
        var model = ml.MulticlassClassification.Trainers.Mamba(options).Fit(data);
        Assert.Equal(8, reports.Max(r => r.Step));
        Assert.Equal(2, reports.Count(r => r.IsEndOfEpoch));
        Assert.All(reports, r => Assert.True(r.ExamplesPerSecond > 0 && double.IsFinite(r.Loss)));
        Assert.Contains(log, m => m.Contains("step 2/8") && m.Contains("rows/s") && m.Contains("ETA"));
        Assert.Equal(8, model.TrainingHistory!.StepLosses.Count);
    }

    [Fact]
    public void ValidationSetEnablesEarlyStoppingAndKeepsTheBestEpoch()
    {
        var (ml, data) = Topics(32, 1);
        var options = Quick(epochs: 4);
        options.ValidationSet = data;
        options.EarlyStoppingPatience = 1;
        options.LearningRate = 0.5; // so large that validation loss goes up and training stops early
        options.MaxGradientNorm = 0;
        var history = ml.MulticlassClassification.Trainers.Mamba(options).Fit(data).TrainingHistory!;
        Assert.Equal(history.EpochLosses.Count, history.ValidationLosses.Count);
        int best = history.ValidationLosses.IndexOf(history.ValidationLosses.Min()) + 1;
        Assert.Equal(best, history.BestEpoch);
        if (history.EpochLosses.Count < 4) Assert.True(history.StoppedEarly);
    }

    [Fact]
    public void BinaryClassificationOnTextPlusExtraColumnsGivesProbabilities()
    {
        var ml = new MLContext(seed: 3);
        // The label shows only in the extra Category column, so the model must read it from the sequence.
        var random = new Random(3);
        var rows = TopicRows.Make(160, 3).Select(r => (Row: r, Label: random.Next(2) == 1)).ToList();
        var data = ml.Data.LoadFromEnumerable(rows.Select(x => new { x.Row.Text, x.Row.Amount, Category = x.Label ? "red" : "blue", x.Label }));
        var options = Quick(epochs: 3);
        options.ExtraColumnNames = ["Amount", "Category"];
        options.MaxSequenceLength = 64;
        var trainer = ml.BinaryClassification.Trainers.Mamba(options);
        var model = trainer.Fit(data);
        var scored = model.Transform(data);
        var metrics = ml.BinaryClassification.Evaluate(scored);
        Assert.True(metrics.Accuracy > 0.8, $"accuracy {metrics.Accuracy:F3}");
        Assert.All(scored.GetColumn<float>("Probability"), p => Assert.InRange(p, 0f, 1f));
        Assert.Equal("Text: goal team\nAmount: 0.5\nCategory: no",
            model.TextReader.Formatter.Format(["goal team", 0.5f, "no"]));
    }

    [Fact]
    public void RegressionLearnsBetterThanPredictingTheMean()
    {
        var ml = new MLContext(seed: 4);
        var rows = TopicRows.Make(160, 4);
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new { r.Text, Label = r.Amount * 100 })); // 0..3000: tests label scaling
        var model = ml.Regression.Trainers.Mamba(Quick(epochs: 3)).Fit(data);
        var metrics = ml.Regression.Evaluate(model.Transform(data));
        Assert.True(metrics.RSquared > 0.5, $"R² {metrics.RSquared:F3}");
    }

    [Fact]
    public void NaNInANumericColumnIsWrittenAsMissingAndTrains()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(16, 1).Select((r, i) => new { r.Text, Amount = i % 2 == 0 ? float.NaN : r.Amount, Label = r.Flag }));
        var options = Quick();
        options.ExtraColumnNames = ["Amount"];
        var model = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
        Assert.All(model.Transform(data).GetColumn<float>("Score"), s => Assert.True(float.IsFinite(s)));
        Assert.Equal("Text: rain\nAmount: missing", model.TextReader.Formatter.Format(["rain", float.NaN]));
    }

    [Fact]
    public void MissingOrWrongTypedColumnsAreNamedInTheError()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(8, 1).Select(r => new { Body = r.Text, Label = r.Flag, Count = r.Amount }));
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.BinaryClassification.Trainers.Mamba(Quick()).Fit(data));
        Assert.Contains("'Text'", e1.Message);

        var options = Quick();
        options.TextColumnNames = ["Count"];
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.BinaryClassification.Trainers.Mamba(options).Fit(data));
        Assert.Contains("'Count'", e2.Message);

        options.TextColumnNames = ["Body"];
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(data));
        Assert.Contains("MapValueToKey", e3.Message);
        var e4 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.Mamba(options).Fit(data));
        Assert.Contains("'Label'", e4.Message);
        Assert.Throws<ArgumentException>(() => ml.BinaryClassification.Trainers.Mamba(new MambaTrainerOptions { BatchSize = 0 }));
    }

    [Fact]
    public void AnEmptyTrainingSetIsRefusedClearly()
    {
        var ml = new MLContext(seed: 1);
        var empty = ml.Data.LoadFromEnumerable(new List<TopicRow>());
        var keys = ml.Data.LoadFromEnumerable(TopicRows.Topics.Select(t => new { Topic = t }));
        var data = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic), keyData: keys).Fit(empty).Transform(empty);
        var error = Assert.Throws<InvalidOperationException>(() => ml.MulticlassClassification.Trainers.Mamba(Quick()).Fit(data));
        Assert.Contains("nothing to train on", error.Message);
    }

    [Fact]
    public void GetOutputSchemaAddsScoreAndPredictedLabel()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(4, 1).Select(r => new { r.Text, Label = r.Flag }));
        var estimator = ml.BinaryClassification.Trainers.Mamba(Quick());
        var shape = estimator.GetOutputSchema(ToShape(data.Schema));
        Assert.Contains(shape, c => c.Name == "Score");
        Assert.Contains(shape, c => c.Name == "Probability");
        Assert.Contains(shape, c => c.Name == "PredictedLabel");
    }

    private static SchemaShape ToShape(DataViewSchema schema) => MLNetInternalsBridge.CreateSchemaShape(schema);

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<MambaTrainingProgress> report) : IProgress<MambaTrainingProgress>
    {
        public void Report(MambaTrainingProgress value) => report(value);
    }
}
