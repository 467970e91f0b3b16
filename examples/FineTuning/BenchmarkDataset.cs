using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Examples.TabularText;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Examples.FineTuning;

/// <summary>
/// One binary classification set with a fixed train / validation / test split (the same for every seed and model),
/// the columns Mamba reads, and the featurisation the linear baselines use.
/// </summary>
public sealed class BenchmarkDataset
{
    public required string Name { get; init; }
    public required IDataView Train { get; init; }
    /// <summary>Held out of training for Mamba's early stopping; the baselines do not see it either.</summary>
    public required IDataView Validation { get; init; }
    public required IDataView Test { get; init; }
    public required string LabelColumn { get; init; }
    public required string[] TextColumns { get; init; }
    public string[] ExtraColumns { get; init; } = [];
    /// <summary>FeaturizeText (and friends) into a "Features" column.</summary>
    public required Func<MLContext, IEstimator<ITransformer>> Featurize { get; init; }
    /// <summary>The training rows as Mamba reads them (for domain-adaptive pretraining).</summary>
    public required IReadOnlyList<string> TrainTexts { get; init; }
    /// <summary>Tokens per row Mamba keeps (GPT-2-sized tokens; the rest of a row is dropped).</summary>
    public required int MaxTokens { get; init; }

    /// <summary>
    /// Give the pretrained base the text that <see cref="MaxTokens"/> GPT-2 tokens cover rather than the same number of
    /// its own tokens (the e-mail recipe: the base's book-trained BPE splits mails into 1.6 times as many tokens, and at
    /// the same count the fields before the body filled a 64-token row).
    /// </summary>
    public bool BaseReadsSameText { get; init; }

    public long Count(IDataView data) => data.GetColumn<bool>(LabelColumn).LongCount();

    /// <summary>Loads a set by name: uci, finefoods or spam.</summary>
    /// <param name="maxTrainRows">Keep at most this many training rows (quick runs).</param>
    /// <param name="maxTestRows">Keep at most this many test and validation rows (quick runs).</param>
    public static BenchmarkDataset Load(string name, string root, int? maxTrainRows, int? maxTestRows = null)
    {
        var ml = new MLContext(seed: 42);
        var data = name switch
        {
            "uci" => Uci(ml, root, maxTrainRows),
            "finefoods" => FineFoods(ml, root, maxTrainRows),
            "spam" => Spam(ml, root, maxTrainRows),
            _ => throw new ArgumentException($"--dataset must be uci, finefoods or spam, not '{name}'."),
        };
        if (maxTestRows is not int n) return data;
        return new BenchmarkDataset
        {
            Name = data.Name, Train = data.Train, Validation = Cap(ml, data.Validation, n), Test = Cap(ml, data.Test, n),
            LabelColumn = data.LabelColumn, TextColumns = data.TextColumns, ExtraColumns = data.ExtraColumns,
            Featurize = data.Featurize, TrainTexts = data.TrainTexts, MaxTokens = data.MaxTokens, BaseReadsSameText = data.BaseReadsSameText,
        };
    }

    // As examples/TextClassification splits it: 20% test, then a tenth of the rest for validation (seed 42).
    private static BenchmarkDataset Uci(MLContext ml, string root, int? maxTrainRows)
    {
        string path = Path.Combine(root, "examples", "TextClassification", "Data", "sentiment.tsv");
        var rows = File.ReadLines(path).Skip(1).Select(line => line.Split('\t'))
            .Select(f => new TextRow { Label = f[1] is "1" or "true" or "True", Text = f[2] }).ToList();
        var split = ml.Data.TrainTestSplit(ml.Data.LoadFromEnumerable(rows), testFraction: 0.2, seed: 42);
        var trainSplit = ml.Data.TrainTestSplit(split.TrainSet, testFraction: 0.1, seed: 42);
        return OneText(ml, "UCI sentences", Cap(ml, trainSplit.TrainSet, maxTrainRows), trainSplit.TestSet, split.TestSet, maxTokens: 48);
    }

    // examples/FineTuning/data/fine-foods-{train,test}.tsv (examples/Pretraining/fetch-corpus.sh): great vs other,
    // <br /> tags removed; a tenth of the training file (seed 42) for validation.
    private static BenchmarkDataset FineFoods(MLContext ml, string root, int? maxTrainRows)
    {
        string folder = Path.Combine(root, "examples", "FineTuning", "data");
        List<TextRow> Read(string file)
        {
            string path = Path.Combine(folder, file);
            if (!File.Exists(path)) throw new FileNotFoundException($"{path} is missing: run examples/Pretraining/fetch-corpus.sh first.", path);
            return File.ReadLines(path).Skip(1).Where(l => l.Contains('\t')).Select(l =>
            {
                int tab = l.LastIndexOf('\t');
                string text = System.Text.RegularExpressions.Regex.Replace(l[..tab].Replace("<br />", " "), @"\s+", " ").Trim();
                return new TextRow { Text = text, Label = l[(tab + 1)..].Trim() == "great" };
            }).ToList();
        }
        var trainSplit = ml.Data.TrainTestSplit(ml.Data.LoadFromEnumerable(Read("fine-foods-train.tsv")), testFraction: 0.1, seed: 42);
        return OneText(ml, "Amazon fine foods", Cap(ml, trainSplit.TrainSet, maxTrainRows), trainSplit.TestSet,
            ml.Data.LoadFromEnumerable(Read("fine-foods-test.tsv")), maxTokens: 128);
    }

    // As examples/TabularText loads it: 400 e-mails per class (seed 7), 25% test, a tenth of the rest for validation.
    // Rows of 256 GPT-2 tokens (the library's default length; the base reads the same text, about 400 of its tokens):
    // on the validation rows both Mamba models did better than with 64 (docs/results/2026-12-07-fine-tuning.md).
    private static BenchmarkDataset Spam(MLContext ml, string root, int? maxTrainRows)
    {
        string corpus = Path.Combine(root, "examples", "TabularText", "data", "package", "data");
        if (!Directory.Exists(Path.Combine(corpus, "spam-1")))
            throw new DirectoryNotFoundException($"{corpus} is missing: run examples/TabularText/fetch-data.sh first.");
        var ml7 = new MLContext(seed: 7);
        var rows = SpamAssassinCorpus.Load(corpus, 400, seed: 7);
        var split = ml7.Data.TrainTestSplit(ml7.Data.LoadFromEnumerable(rows), testFraction: 0.25, seed: 7);
        var trainSplit = ml7.Data.TrainTestSplit(split.TrainSet, testFraction: 0.1, seed: 7);
        var train = Cap(ml7, trainSplit.TrainSet, maxTrainRows);
        string[] text = [nameof(EmailRow.Subject)];
        string[] extra = [nameof(EmailRow.ContentType), nameof(EmailRow.HasHtml), nameof(EmailRow.LinkCount), nameof(EmailRow.BodyLength), nameof(EmailRow.Body)];
        var formatter = new RowTextFormatter(text.Concat(extra).ToArray());
        return new BenchmarkDataset
        {
            Name = "SpamAssassin (subject, body + 4 columns)",
            Train = train, Validation = trainSplit.TestSet, Test = split.TestSet,
            LabelColumn = nameof(EmailRow.IsSpam), TextColumns = text, ExtraColumns = extra, MaxTokens = 256, BaseReadsSameText = true,
            TrainTexts = ml7.Data.CreateEnumerable<EmailRow>(train, reuseRowObject: false)
                .Select(r => formatter.Format([r.Subject, r.ContentType, r.HasHtml, r.LinkCount, r.BodyLength, r.Body])).ToList(),
            Featurize = m => m.Transforms.Text.FeaturizeText("SubjectFeatures", nameof(EmailRow.Subject))
                .Append(m.Transforms.Text.FeaturizeText("BodyFeatures", nameof(EmailRow.Body)))
                .Append(m.Transforms.Categorical.OneHotEncoding("ContentTypeFeatures", nameof(EmailRow.ContentType)))
                .Append(m.Transforms.Conversion.ConvertType("HasHtmlFeature", nameof(EmailRow.HasHtml), DataKind.Single))
                .Append(m.Transforms.Concatenate("Numbers", nameof(EmailRow.LinkCount), nameof(EmailRow.BodyLength), "HasHtmlFeature"))
                .Append(m.Transforms.NormalizeMeanVariance("Numbers"))
                .Append(m.Transforms.Concatenate("Features", "SubjectFeatures", "BodyFeatures", "ContentTypeFeatures", "Numbers")),
        };
    }

    private static BenchmarkDataset OneText(MLContext ml, string name, IDataView train, IDataView validation, IDataView test, int maxTokens) => new()
    {
        Name = name, Train = train, Validation = validation, Test = test,
        LabelColumn = nameof(TextRow.Label), TextColumns = [nameof(TextRow.Text)], MaxTokens = maxTokens,
        TrainTexts = ml.Data.CreateEnumerable<TextRow>(train, reuseRowObject: false).Select(r => r.Text).ToList(),
        Featurize = m => m.Transforms.Text.FeaturizeText("Features", nameof(TextRow.Text)),
    };

    private static IDataView Cap(MLContext ml, IDataView data, int? rows) => rows is int n ? ml.Data.TakeRows(data, n) : data;
}
