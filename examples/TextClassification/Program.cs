// Sentiment of single review sentences (UCI "Sentiment Labelled Sentences", Data/SOURCE.md):
// a small Mamba trained from scratch next to ML.NET's FeaturizeText + SdcaLogisticRegression, same split.
//
//   dotnet run -c Release --project examples/TextClassification [-- --epochs 4 --tokenizer gpt2|bytes --size tiny|small]
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Examples;
using Microsoft.ML.Mamba.Examples.TextClassification;
using Microsoft.ML.Mamba.MLNet;

string Arg(string name, string fallback) { int i = Array.IndexOf(args, "--" + name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
int epochs = int.Parse(Arg("epochs", "3"));
var tokenizer = Enum.Parse<MambaTokenizerKind>(Arg("tokenizer", "gpt2"), ignoreCase: true);
var size = Enum.Parse<MambaModelSize>(Arg("size", "tiny"), ignoreCase: true);
string output = Path.GetFullPath(Arg("output", Path.Combine("examples", "TextClassification", "output")));
Directory.CreateDirectory(output);

var ml = new MLContext(seed: 42);
var all = ml.Data.LoadFromTextFile<SentimentRow>(Path.Combine(AppContext.BaseDirectory, "Data", "sentiment.tsv"), '\t', hasHeader: true, allowQuoting: false);
var split = ml.Data.TrainTestSplit(all, testFraction: 0.2, seed: 42);
// A tenth of the training rows is held out for early stopping; SDCA trains on the same 90%.
var trainSplit = ml.Data.TrainTestSplit(split.TrainSet, testFraction: 0.1, seed: 42);
Console.WriteLine($"Rows: train {Count(trainSplit.TrainSet)}, validation {Count(trainSplit.TestSet)}, test {Count(split.TestSet)}");

// --- Mamba ---
var options = new MambaTrainerOptions
{
    LabelColumnName = nameof(SentimentRow.Positive),
    TextColumnNames = [nameof(SentimentRow.Text)],
    Tokenizer = tokenizer,
    ModelSize = size,
    MaxSequenceLength = tokenizer == MambaTokenizerKind.Bytes ? 160 : 48,
    NumberOfEpochs = epochs,
    BatchSize = 32,
    LearningRate = 5e-3,
    WeightDecay = 0.05,
    // A tiny network trained from scratch learns sentiment words faster when every token feeds the head.
    Pooling = Microsoft.ML.Mamba.Modeling.SequencePooling.Mean,
    ValidationSet = trainSplit.TestSet,
    EarlyStoppingPatience = 2,
    LogEveryNumberOfSteps = 0,
    Progress = new ConsoleProgressBar(),
};
Console.WriteLine($"Training Mamba ({size}, {tokenizer} tokens, {epochs} epochs) on {Environment.ProcessorCount} CPU cores or CUDA if present...");
var (mamba, mambaTime) = ModelReport.Time(() => ml.BinaryClassification.Trainers.Mamba(options).Fit(trainSplit.TrainSet));
var mambaReport = Evaluate("Mamba " + size.ToString().ToLowerInvariant() + $" ({tokenizer}, from scratch)", mamba, mambaTime);
LossCurve.Save(mamba.TrainingHistory!, Path.Combine(output, "mamba-loss.png"), "Mamba on Sentiment Labelled Sentences");

// --- ML.NET classic ---
Console.WriteLine("Training FeaturizeText + SdcaLogisticRegression...");
var classic = ml.Transforms.Text.FeaturizeText("Features", nameof(SentimentRow.Text))
    .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(nameof(SentimentRow.Positive), "Features"));
var (sdca, sdcaTime) = ModelReport.Time(() => classic.Fit(trainSplit.TrainSet));
var sdcaReport = Evaluate("FeaturizeText + SdcaLogisticRegression", sdca, sdcaTime);

ModelReport.Print($"Test set ({Count(split.TestSet)} sentences):", [mambaReport, sdcaReport]);

// --- Save, reload in a fresh MLContext, predict ---
string modelPath = Path.Combine(output, "mamba-sentiment.zip");
ml.Model.Save(mamba, trainSplit.TrainSet.Schema, modelPath);
var reloaded = MambaModelLoader.Load(new MLContext(seed: 1), modelPath, out _);
var engine = ml.Model.CreatePredictionEngine<SentimentRow, SentimentPrediction>(reloaded);
Console.WriteLine($"\nSaved {modelPath} ({new FileInfo(modelPath).Length / 1024} KiB); loss curve {Path.Combine(output, "mamba-loss.png")}");
foreach (var text in new[] { "The food was wonderful and the staff were friendly.", "Worst purchase ever, it broke after two days." })
{
    var p = engine.Predict(new SentimentRow { Text = text });
    Console.WriteLine($"  {(p.PredictedLabel ? "positive" : "negative"),-8} ({p.Probability:F2})  {text}");
}

long Count(IDataView data) => data.GetColumn<bool>(nameof(SentimentRow.Positive)).LongCount();

ModelReport Evaluate(string name, ITransformer model, TimeSpan time)
{
    var scored = model.Transform(split.TestSet);
    var metrics = ml.BinaryClassification.Evaluate(scored, nameof(SentimentRow.Positive));
    var actual = scored.GetColumn<bool>(nameof(SentimentRow.Positive)).Select(b => b ? 1 : 0).ToArray();
    var predicted = scored.GetColumn<bool>("PredictedLabel").Select(b => b ? 1 : 0).ToArray();
    return new ModelReport(name, metrics.Accuracy, ModelReport.MacroF1Of(actual, predicted), metrics.LogLoss, time);
}
