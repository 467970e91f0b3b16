// A small hyper-parameter sweep with Microsoft.ML alone (no Microsoft.ML.AutoML): seeded points from
// MambaSearchSpace.Sample, each scored by 2-fold cross-validation, best by accuracy.
// dotnet run -c Release --project examples/Sweep [trials, default 3]
using Microsoft.ML;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;

int trials = args.Length > 0 ? int.Parse(args[0]) : 3;
var ml = new MLContext(seed: 1);
string[] good = ["great", "lovely", "superb", "fun"], bad = ["awful", "dull", "boring", "bad"];
var rng = new Random(2);
var rows = Enumerable.Range(0, 64).Select(i =>
{
    bool positive = i % 2 == 0;
    var words = positive ? good : bad;
    return new Review { Text = $"a {words[rng.Next(words.Length)]} film, really {words[rng.Next(words.Length)]}", Label = positive };
}).ToList();
var data = ml.Data.LoadFromEnumerable(rows);

var sampler = new Random(42);
(double Accuracy, MambaSearchSpace Point)? best = null;
for (int t = 0; t < trials; t++)
{
    var point = MambaSearchSpace.Sample(sampler);
    // Kept small so the sweep runs in a minute on two CPU cores: a tiny network, few epochs, short rows.
    point.ModelSize = "Tiny";
    point.NumberOfEpochs = Math.Min(point.NumberOfEpochs, 2);
    point.MaxSequenceLength = 64;
    var options = point.ToOptions(new MambaTrainerOptions
    {
        TextColumnNames = ["Text"], Tokenizer = MambaTokenizerKind.Bytes,
        NetworkConfig = new MambaConfig { HiddenSize = 32, StateSize = 4, NumHiddenLayers = 1 },
    });
    var folds = ml.BinaryClassification.CrossValidate(data, ml.BinaryClassification.Trainers.Mamba(options), numberOfFolds: 2);
    double accuracy = folds.Average(f => f.Metrics.Accuracy);
    Console.WriteLine($"trial {t}: lr {point.LearningRate:G3}, wd {point.WeightDecay:F3}, batch {point.BatchSize}, " +
                      $"epochs {point.NumberOfEpochs}, pooling {point.Pooling}: accuracy {accuracy:F3}");
    if (best is null || accuracy > best.Value.Accuracy) best = (accuracy, point);
}
Console.WriteLine($"best: accuracy {best!.Value.Accuracy:F3} with learning rate {best.Value.Point.LearningRate:G3}, batch {best.Value.Point.BatchSize}");

internal sealed class Review
{
    public string Text { get; set; } = "";
    public bool Label { get; set; }
}
