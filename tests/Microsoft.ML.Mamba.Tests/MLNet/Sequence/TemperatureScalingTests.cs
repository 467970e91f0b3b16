using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>Temperature scaling of the classifiers' probabilities on the validation rows.</summary>
public class TemperatureScalingTests
{
    // Rows whose labels are drawn from softmax(z): the calibrated temperature of z is 1, of k·z it is k.
    private static (List<float[]> Logits, List<float> Targets) Drawn(int rows, int classes, double scale, int seed)
    {
        var rng = new Random(seed);
        var logits = new List<float[]>();
        var targets = new List<float>();
        for (int r = 0; r < rows; r++)
        {
            var z = Enumerable.Range(0, classes).Select(_ => 2 * (rng.NextDouble() * 2 - 1)).ToArray();
            if (classes == 1)
            {
                targets.Add(rng.NextDouble() < 1 / (1 + Math.Exp(-z[0])) ? 1 : 0);
            }
            else
            {
                var p = z.Select(Math.Exp).ToArray();
                double u = rng.NextDouble() * p.Sum(), acc = 0;
                int label = classes - 1;
                for (int c = 0; c < classes; c++) if ((acc += p[c]) >= u) { label = c; break; }
                targets.Add(label);
            }
            logits.Add(z.Select(v => (float)(v * scale)).ToArray());
        }
        return (logits, targets);
    }

    [Theory]
    [InlineData(3, 4.0)]   // over-confident multiclass logits
    [InlineData(3, 1.0)]   // already calibrated
    [InlineData(1, 0.25)]  // under-confident binary logit
    [InlineData(1, 3.0)]
    public void FitRecoversTheScaleTheLogitsWereInflatedBy(int classes, double scale)
    {
        var (logits, targets) = Drawn(4000, classes, scale, seed: classes * 10 + (int)(scale * 4));
        double t = TemperatureScaling.Fit(logits, targets);
        Assert.InRange(t / scale, 0.85, 1.18);
        Assert.True(TemperatureScaling.Loss(logits, targets, t) <= TemperatureScaling.Loss(logits, targets, 1) + 1e-12);
        // The minimum (of the loss with its weak prior): nudging T either way does not lower it.
        Assert.True(TemperatureScaling.Penalized(logits, targets, t) <= TemperatureScaling.Penalized(logits, targets, t * 1.01) + 1e-9);
        Assert.True(TemperatureScaling.Penalized(logits, targets, t) <= TemperatureScaling.Penalized(logits, targets, t / 1.01) + 1e-9);
    }

    [Fact]
    public void AFewPerfectlySeparatedRowsSharpenTheProbabilitiesOnlyModestly()
    {
        // Six binary rows, all predicted right with margins of 2-4 nats: the likelihood alone falls all the way to T's lower
        // bound (probabilities of exactly 0 and 1); the prior on log T keeps T within a factor of about 3 of 1.
        var logits = new List<float[]> { new[] { 3f }, new[] { -2f }, new[] { 4f }, new[] { 2.5f }, new[] { -3f }, new[] { -2f } };
        var targets = new List<float> { 1, 0, 1, 1, 0, 0 };
        Assert.True(TemperatureScaling.Loss(logits, targets, TemperatureScaling.Min) < TemperatureScaling.Loss(logits, targets, 0.5));
        double t = TemperatureScaling.Fit(logits, targets);
        Assert.InRange(t, 0.3, 0.99);
    }

    [Fact]
    public void LossIsTheNegativeLogLikelihoodOfTheSoftmaxAndTheSigmoid()
    {
        var multi = new List<float[]> { new[] { 1f, 2f, 0f } };
        double expected = -Math.Log(Math.Exp(1 / 2.0) / (Math.Exp(1 / 2.0) + Math.Exp(1.0) + 1));
        Assert.Equal(expected, TemperatureScaling.Loss(multi, [0f], 2), 12);
        var binary = new List<float[]> { new[] { 800f } };
        Assert.Equal(800.0, TemperatureScaling.Loss(binary, [0f], 1), 9); // -log(1 - sigmoid(800)) stays finite
        Assert.Equal(0.0, TemperatureScaling.Loss(binary, [1f], 1), 9);
    }

    [Fact]
    public void TheTrainerCalibratesOnTheValidationSetAndTheModelKeepsItThroughSaveAndLoad()
    {
        var (ml, train) = MambaTrainingBehaviourTests.Topics(48, mlSeed: 3);
        var prefixRows = TopicRows.Make(48, seed: 1);
        var key = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic)).Fit(ml.Data.LoadFromEnumerable(prefixRows));
        var validation = key.Transform(ml.Data.LoadFromEnumerable(TopicRows.Make(24, seed: 9)));
        var options = MambaTrainingBehaviourTests.Quick(epochs: 2);
        options.Seed = 4;
        options.ValidationSet = validation;
        var calibrated = ml.MulticlassClassification.Trainers.Mamba(options).Fit(train);
        options.CalibrateProbabilities = false;
        var raw = ml.MulticlassClassification.Trainers.Mamba(options).Fit(train);

        Assert.Equal(1.0, raw.Temperature);
        Assert.NotEqual(1.0, calibrated.Temperature, 3);
        // Same seed, same weights: the calibrated probabilities are softmax(logits / T) of the uncalibrated ones.
        var rawScores = raw.Transform(validation).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();
        var calScores = calibrated.Transform(validation).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();
        for (int r = 0; r < rawScores.Length; r++)
        {
            var logits = rawScores[r].Select(p => Math.Log(p) / calibrated.Temperature).ToArray();
            double sum = logits.Sum(Math.Exp);
            for (int c = 0; c < logits.Length; c++) Assert.Equal(Math.Exp(logits[c]) / sum, calScores[r][c], 4);
            Assert.Equal(Array.IndexOf(rawScores[r], rawScores[r].Max()), Array.IndexOf(calScores[r], calScores[r].Max()));
        }
        // ... and the log-loss on the rows it was fitted on is no worse.
        var metricsRaw = ml.MulticlassClassification.Evaluate(raw.Transform(validation));
        var metricsCal = ml.MulticlassClassification.Evaluate(calibrated.Transform(validation));
        Assert.True(metricsCal.LogLoss <= metricsRaw.LogLoss + 1e-6, $"{metricsCal.LogLoss} > {metricsRaw.LogLoss}");

        var stream = new MemoryStream();
        ml.Model.Save(calibrated, train.Schema, stream);
        stream.Position = 0;
        var loaded = (MambaTransformer)new MLContext(seed: 1).Model.Load(stream, out _);
        Assert.Equal(calibrated.Temperature, loaded.Temperature);
        var loadedScores = loaded.Transform(validation).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();
        for (int r = 0; r < calScores.Length; r++) Assert.Equal(calScores[r], loadedScores[r]);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1000000")]
    [InlineData("\"NaN\"")]
    public void ASavedTemperatureOutsideItsRangeIsRefused(string value)
    {
        var json = new MambaTransformerSettings { Task = MambaTask.MulticlassClassification, NumberOfClasses = 3, MaxSequenceLength = 8, ScoringBatchSize = 4 }
            .ToJson().Replace("\"Temperature\": 1", "\"Temperature\": " + value);
        Assert.Contains("Temperature", json);
        var error = Assert.Throws<InvalidDataException>(() => MambaTransformerSettings.FromJson(json));
        Assert.Contains("Temperature", error.Message);
    }
}
