// Does fine-tuning pay? For one classification set and several seeds, on the same split, in one run:
// FeaturizeText + SdcaLogisticRegression, FeaturizeText + LbfgsLogisticRegression, Mamba from scratch, Mamba
// fine-tuned from a pretrained base, and Mamba fine-tuned after domain-adaptive pretraining on the training rows' text.
// Prints one markdown table (mean ± sd over the seeds) and writes it to --out.
//
//   dotnet run -c Release --project examples/FineTuning -- --dataset uci|finefoods|spam [--seeds 1,2,3]
//       [--base models/mamba-english-base] [--out FILE] [--quick] [--models sdca,lbfgs,scratch,finetune,dapt]
//       [--epochs N] [--max-train-rows N] [--dapt-steps N] [--threads N] [--warmup 0.1] [--lr 5e-3]
//       [--backbone-factor 0.5] [--head-dropout 0.1] [--max-tokens N] [--base-budget tokens|text]
//   --token-report: how the base's tokenizer and GPT-2's split the training rows, then exit (no training).
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Examples;
using Microsoft.ML.Mamba.Examples.FineTuning;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string? Arg(string name) { int i = Array.IndexOf(args, "--" + name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
bool quick = args.Contains("--quick");
string root = FindRoot();
string datasetName = Arg("dataset") ?? "uci";
int[] seeds = (Arg("seeds") ?? "1,2,3").Split(',').Select(int.Parse).ToArray();
string baseDirectory = Path.GetFullPath(Arg("base") ?? Path.Combine(root, "models", "mamba-english-base"));
string[] models = (Arg("models") ?? "sdca,lbfgs,scratch,finetune,dapt").Split(',');
var recipe = new MambaRecipes
{
    Epochs = int.Parse(Arg("epochs") ?? (quick ? "2" : "4")),
    DomainAdaptationSteps = int.Parse(Arg("dapt-steps") ?? (quick ? "10" : "150")),
    BaseDirectory = baseDirectory,
    WarmupFraction = double.Parse(Arg("warmup") ?? "0.1", CultureInfo.InvariantCulture),
    FineTuneLearningRate = double.Parse(Arg("lr") ?? "5e-3", CultureInfo.InvariantCulture),
    BackboneLearningRateFactor = double.Parse(Arg("backbone-factor") ?? "0.5", CultureInfo.InvariantCulture),
    HeadDropout = double.Parse(Arg("head-dropout") ?? "0.1", CultureInfo.InvariantCulture),
    MaxTokens = Arg("max-tokens") is { } t ? int.Parse(t) : null,
    SameTextForBase = Arg("base-budget") switch
    {
        null => null,
        "text" => true,
        "tokens" => false,
        var other => throw new ArgumentException($"--base-budget must be text or tokens, not '{other}'."),
    },
};
int? maxTrainRows = Arg("max-train-rows") is { } m ? int.Parse(m) : quick ? 300 : null;
int? maxTestRows = quick ? 200 : null;
set_num_threads(int.Parse(Arg("threads") ?? Environment.ProcessorCount.ToString()));
string output = Path.GetFullPath(Arg("out") ?? Path.Combine(root, "examples", "FineTuning", "output", $"{datasetName}.md"));

var data = BenchmarkDataset.Load(datasetName, root, maxTrainRows, maxTestRows);
Console.WriteLine($"{data.Name}: train {data.Count(data.Train)}, validation {data.Count(data.Validation)}, test {data.Count(data.Test)} rows; " +
    $"seeds {string.Join(",", seeds)}; {Environment.ProcessorCount} cores" + (quick ? "; quick mode" : ""));
if (args.Contains("--token-report"))
{
    // What the network is given: tokens per row and how much of the last field survives the row budget.
    var fields = data.TextColumns.Concat(data.ExtraColumns).ToArray();
    var tokenizers = new List<(string, Microsoft.ML.Mamba.Text.IMambaTokenizer)> { ("GPT-2 (from scratch)", Microsoft.ML.Mamba.Text.MambaTokenizers.Gpt2()) };
    if (File.Exists(Path.Combine(baseDirectory, "tokenizer.json")))
        tokenizers.Insert(0, ($"base ({Path.GetFileName(baseDirectory)})", Microsoft.ML.Mamba.Text.MambaTokenizers.FromHuggingFace(baseDirectory)));
    int budget = recipe.MaxTokens ?? data.MaxTokens;
    Console.WriteLine(TokenReport.Describe(data.TrainTexts, tokenizers, [budget, 2 * budget, 4 * budget], fields.Length > 1 ? fields[^1] : null));
    foreach (var (name, tokenizer) in tokenizers)
        Console.WriteLine($"First row, first {budget} tokens, {name}:\n{TokenReport.Show(data.TrainTexts[0], tokenizer, budget)}\n");
    return 0;
}
bool needsBase = models.Contains("finetune") || models.Contains("dapt");
if (needsBase && !File.Exists(Path.Combine(baseDirectory, "config.json")))
{
    Console.Error.WriteLine($"No pretrained base in {baseDirectory} (config.json): pass --base DIR, or --models sdca,lbfgs,scratch.");
    return 1;
}

string budgets = $"Mamba rows: {recipe.MaxTokens ?? data.MaxTokens} GPT-2 tokens from scratch" +
    (needsBase ? $", {recipe.BaseBudget(data, MambaRecipes.TokenizerOf(baseDirectory))} base tokens fine-tuned" : "");
Console.WriteLine(budgets);

// An untimed fit first, so the first timed model does not pay for loading and compiling ML.NET's code.
data.Featurize(new MLContext(0)).Fit(data.Train);

var results = new List<(string Model, int Seed, ModelReport Report)>();
foreach (int seed in seeds)
{
    foreach (string model in models)
    {
        var ml = new MLContext(seed: seed);
        Console.WriteLine($"seed {seed}: {model}...");
        var clock = Stopwatch.StartNew();
        var (name, transformer) = model switch
        {
            "sdca" => ("FeaturizeText + SdcaLogisticRegression", (ITransformer)data.Featurize(ml)
                .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(data.LabelColumn, "Features")).Fit(data.Train)),
            "lbfgs" => ("FeaturizeText + LbfgsLogisticRegression", data.Featurize(ml)
                .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(data.LabelColumn, "Features")).Fit(data.Train)),
            "scratch" => ("Mamba tiny from scratch", recipe.Fit(ml, data, MambaRecipes.Start.Scratch, seed)),
            "finetune" => ("Mamba fine-tuned from the base", recipe.Fit(ml, data, MambaRecipes.Start.Base, seed)),
            "dapt" => ("Mamba: base + domain-adaptive pretraining", recipe.Fit(ml, data, MambaRecipes.Start.DomainAdapted, seed)),
            _ => throw new ArgumentException($"--models: unknown model '{model}' (known: sdca, lbfgs, scratch, finetune, dapt)."),
        };
        var elapsed = clock.Elapsed;
        if (transformer is Microsoft.ML.Mamba.MLNet.MambaTransformer { TrainingHistory: { } history })
            Console.WriteLine($"  validation loss by epoch {string.Join(", ", history.ValidationLosses.Select(v => v.ToString("F4")))}; kept epoch {history.BestEpoch}");
        var report = Evaluate(ml, name, transformer, elapsed);
        Console.WriteLine($"  accuracy {report.Accuracy:F4}  macro-F1 {report.MacroF1:F4}  log-loss {report.LogLoss:F4}  {report.TrainingTime.TotalSeconds:F1}s");
        results.Add((name, seed, report));
    }
}

var table = new System.Text.StringBuilder();
table.AppendLine($"{data.Name}: test {data.Count(data.Test)} rows, train {data.Count(data.Train)}, validation {data.Count(data.Validation)}; " +
    $"seeds {string.Join(", ", seeds)} (mean ± sd); {Environment.ProcessorCount} CPU cores" + (quick ? "; --quick" : "") + $". {budgets}.");
table.AppendLine();
table.AppendLine("| model | accuracy | macro-F1 | log-loss | training time (s) |");
table.AppendLine("|---|---|---|---|---|");
foreach (var group in results.GroupBy(r => r.Model))
{
    var reports = group.Select(g => g.Report).ToList();
    table.AppendLine($"| {group.Key} | {Spread(reports.Select(r => r.Accuracy), 3)} | {Spread(reports.Select(r => r.MacroF1), 3)} | " +
        $"{Spread(reports.Select(r => r.LogLoss), 3)} | {Spread(reports.Select(r => r.TrainingTime.TotalSeconds), 0)} |");
}
Console.WriteLine();
Console.Write(table);
Directory.CreateDirectory(Path.GetDirectoryName(output)!);
File.WriteAllText(output, table.ToString());
Console.WriteLine($"\nWritten to {output}");
return 0;

static string Spread(IEnumerable<double> values, int digits)
{
    var v = values.ToArray();
    double mean = v.Average();
    double sd = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
    string format = "F" + digits;
    return v.Length > 1 ? $"{mean.ToString(format)} ± {sd.ToString(format)}" : mean.ToString(format);
}

ModelReport Evaluate(MLContext ml, string name, ITransformer model, TimeSpan time)
{
    var scored = model.Transform(data.Test);
    var metrics = ml.BinaryClassification.Evaluate(scored, data.LabelColumn);
    var actual = scored.GetColumn<bool>(data.LabelColumn).Select(b => b ? 1 : 0).ToArray();
    var predicted = scored.GetColumn<bool>("PredictedLabel").Select(b => b ? 1 : 0).ToArray();
    return new ModelReport(name, metrics.Accuracy, ModelReport.MacroF1Of(actual, predicted), metrics.LogLoss, time);
}

static string FindRoot()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.Mamba.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}
