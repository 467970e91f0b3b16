using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

public class MambaMulticlassTests(TrainedTopicModel trained) : IClassFixture<TrainedTopicModel>
{
    private MLContext Ml => trained.MLContext;

    private static float[][] Scores(IDataView scored) =>
        scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();

    [Fact]
    public void FitTransformEvaluateBeatsChanceClearly()
    {
        var scored = trained.Model.Transform(trained.Test);
        var metrics = Ml.MulticlassClassification.Evaluate(scored, "Label", "Score", "PredictedLabel");
        Assert.True(metrics.MacroAccuracy > 0.8, $"macro accuracy {metrics.MacroAccuracy:F3} (chance is 0.33)");
        Assert.True(metrics.LogLoss < 0.7, $"log-loss {metrics.LogLoss:F3} (uniform guessing gives 1.10)");
    }

    [Fact]
    public void ScoreHoldsProbabilitiesAndPredictedLabelCarriesTheLabelKeyValues()
    {
        var scored = trained.Model.Transform(trained.Test);
        foreach (var row in Scores(scored))
        {
            Assert.Equal(3, row.Length);
            Assert.All(row, p => Assert.InRange(p, 0f, 1f));
            Assert.Equal(1.0, row.Sum(), 4);
        }
        VBuffer<ReadOnlyMemory<char>> labelNames = default, predictedNames = default, slotNames = default;
        scored.Schema["Label"].GetKeyValues(ref labelNames);
        scored.Schema["PredictedLabel"].GetKeyValues(ref predictedNames);
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        var expected = labelNames.DenseValues().Select(v => v.ToString()).ToArray();
        Assert.Equal(expected, predictedNames.DenseValues().Select(v => v.ToString()));
        Assert.Equal(expected, slotNames.DenseValues().Select(v => v.ToString()));
        Assert.Equal(expected, trained.Mamba.ClassNames);
    }

    [Fact]
    public void TransformScoresInBatchesNotRowByRow()
    {
        trained.Mamba.ScoringBatchSize = 32;
        int before = trained.Mamba.Scorer.ForwardPasses;
        var scores = Scores(trained.Model.Transform(trained.Test)); // 90 rows
        Assert.Equal(90, scores.Length);
        Assert.Equal(3, trained.Mamba.Scorer.ForwardPasses - before);
    }

    [Fact]
    public void PredictionEngineAgreesWithTransform()
    {
        var rows = TopicRows.Make(4, seed: 9);
        var engine = Ml.Model.CreatePredictionEngine<TopicRow, TopicPrediction>(trained.ModelWithNames);
        var expected = Scores(trained.Model.Transform(Ml.Data.LoadFromEnumerable(rows)));
        for (int i = 0; i < rows.Count; i++)
        {
            var prediction = engine.Predict(rows[i]);
            Assert.Equal(expected[i], prediction.Score, (a, b) => Math.Abs(a - b) < 1e-5);
            Assert.Equal(trained.Mamba.ClassNames![Array.IndexOf(expected[i], expected[i].Max())], prediction.PredictedTopic);
        }
    }

    [Fact]
    public void SaveAndLoadInAFreshMLContextGivesTheSamePredictions()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mamba-roundtrip-{Guid.NewGuid():N}.zip");
        try
        {
            Ml.Model.Save(trained.Model, trained.Train.Schema, path);
            var fresh = new MLContext(seed: 123);
            MambaModelLoader.Register(fresh);
            var loaded = fresh.Model.Load(path, out var inputSchema);
            Assert.NotNull(inputSchema.GetColumnOrNull(nameof(TopicRow.Text)));
            var test = fresh.Data.LoadFromEnumerable(TopicRows.Make(90, seed: 2));
            Assert.Equal(Scores(trained.Model.Transform(trained.Test)), Scores(loaded.Transform(test)));
            Assert.Null(((TransformerChain<ITransformer>)loaded).OfType<MambaTransformer>().Single().TrainingHistory);
        }
        finally { File.Delete(path); }
    }

    /// <summary>MambaModelLoader.Load still works (loading without it: ModelLoadingWithoutRegisterTests).</summary>
    [Fact]
    public void MambaModelLoaderLoadWorks()
    {
        var stream = new MemoryStream();
        Ml.Model.Save(trained.Model, trained.Train.Schema, stream);
        stream.Position = 0;
        var loaded = MambaModelLoader.Load(new MLContext(seed: 2), stream, out var schema);
        Assert.Equal(3, Scores(loaded.Transform(trained.Test)).First().Length);
    }

    [Fact]
    public void CorruptOrMismatchedSavedModelsAreRefused()
    {
        var stream = new MemoryStream();
        Ml.Model.Save(trained.Model, trained.Train.Schema, stream);
        var bytes = stream.ToArray();
        var fresh = new MLContext(seed: 1);
        MambaModelLoader.Register(fresh);

        // Cut off: not a readable zip any more.
        Assert.ThrowsAny<Exception>(() => fresh.Model.Load(new MemoryStream(bytes[..(bytes.Length / 2)]), out _));

        // Weights replaced by garbage.
        var damaged = RewriteEntry(bytes, "Mamba.Network.model.safetensors", _ => [1, 2, 3, 4]);
        // ML.NET wraps loader exceptions (TargetInvocationException); ours is inside.
        var error = Innermost<InvalidDataException>(Assert.ThrowsAny<Exception>(() => fresh.Model.Load(new MemoryStream(damaged), out _)));
        Assert.Contains("could not be read", error.Message);

        // Settings that do not match the network (5 classes for a 3-class head).
        var mismatched = RewriteEntry(bytes, "Mamba.Settings.json",
            old => System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(old).Replace("\"NumberOfClasses\": 3", "\"NumberOfClasses\": 5")));
        Innermost<InvalidDataException>(Assert.ThrowsAny<Exception>(() => fresh.Model.Load(new MemoryStream(mismatched), out _)));
    }

    private static T Innermost<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is T found) return found;
        throw new Xunit.Sdk.XunitException($"No {typeof(T).Name} inside {e}");
    }

    private static byte[] RewriteEntry(byte[] zip, string nameEnd, Func<byte[], byte[]> change)
    {
        var copy = new MemoryStream();
        copy.Write(zip);
        using (var archive = new System.IO.Compression.ZipArchive(copy, System.IO.Compression.ZipArchiveMode.Update, leaveOpen: true))
        {
            var entry = archive.Entries.Single(e => e.FullName.EndsWith(nameEnd, StringComparison.Ordinal));
            byte[] old;
            using (var s = entry.Open()) { var m = new MemoryStream(); s.CopyTo(m); old = m.ToArray(); }
            // Each Mamba stream is an Int32 length followed by the content.
            string name = entry.FullName;
            entry.Delete();
            var content = change(old[4..]);
            using var w = archive.CreateEntry(name).Open();
            w.Write(BitConverter.GetBytes(content.Length));
            w.Write(content);
        }
        return copy.ToArray();
    }

    [Fact]
    public void EmptyAndVeryLongTextsAreScored()
    {
        var rows = new[]
        {
            new TopicRow { Text = "" },
            new TopicRow { Text = "   " },
            new TopicRow { Text = string.Concat(Enumerable.Repeat("pizza soup ", 2000)) },
        };
        var scores = Scores(trained.Model.Transform(Ml.Data.LoadFromEnumerable(rows)));
        Assert.All(scores, s => Assert.Equal(1.0, s.Sum(), 4));
        // Long rows are cut to MaxSequenceLength tokens (the first ones).
        Assert.Equal(trained.Mamba.MaxSequenceLength, trained.Mamba.Scorer.Tokenize(rows[2].Text).Length);
    }

    [Fact]
    public void LabelsUnseenInTrainingStillGetPredictionsAndAreSkippedByTheEvaluator()
    {
        var rows = TopicRows.Make(10, seed: 4);
        rows[0].Topic = "music"; // not a key of the training label
        var scored = trained.Model.Transform(Ml.Data.LoadFromEnumerable(rows));
        var labels = scored.GetColumn<uint>("Label").ToArray();
        Assert.Equal(0u, labels[0]); // MapValueToKey maps unseen values to the missing key
        Assert.All(scored.GetColumn<uint>("PredictedLabel"), k => Assert.InRange(k, 1u, 3u));
        var metrics = Ml.MulticlassClassification.Evaluate(scored);
        Assert.InRange(metrics.MicroAccuracy, 0, 1);
    }

    [Fact]
    public void TransformNamesAMissingOrWrongTypedColumn()
    {
        var missing = Ml.Data.LoadFromEnumerable(new[] { new { Other = "x" } });
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => trained.Mamba.Transform(missing));
        Assert.Contains("'Text'", e1.Message);
        var wrongType = Ml.Data.LoadFromEnumerable(new[] { new { Text = 3f } });
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => trained.Mamba.Transform(wrongType));
        Assert.Contains("'Text'", e2.Message);
        Assert.Contains("text", e2.Message);
    }
}
