// What a user writes after `dotnet add package Microsoft.ML.Mamba`: train, evaluate, save; load in an MLContext that
// never saw a trainer; predict; stream ten tokens from a tiny language model through IChatClient (Microsoft.Extensions.AI).
// Exits non-zero on any failure.
using Microsoft.ML;
using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;

var dir = Path.Combine(Path.GetTempPath(), $"mamba-consumer-{Environment.ProcessId}");
Directory.CreateDirectory(dir);
var modelPath = Path.Combine(dir, "model.zip");

var rows = Enumerable.Range(0, 48).Select(i => i % 2 == 0
    ? new Review { Text = $"great film, loved it {i}", Label = true }
    : new Review { Text = $"awful film, hated it {i}", Label = false }).ToList();

{
    var ml = new MLContext(seed: 1);
    var data = ml.Data.LoadFromEnumerable(rows);
    var trainer = ml.BinaryClassification.Trainers.Mamba(new MambaTrainerOptions
    {
        TextColumnNames = ["Text"], Tokenizer = MambaTokenizerKind.Bytes, ModelSize = MambaModelSize.Tiny,
        NumberOfEpochs = 2, BatchSize = 16, MaxSequenceLength = 32, LearningRate = 3e-3,
    });
    var model = trainer.Fit(data);
    var metrics = ml.BinaryClassification.Evaluate(model.Transform(data));
    Console.WriteLine($"trained: accuracy {metrics.Accuracy:F3}, AUC {metrics.AreaUnderRocCurve:F3}");
    ml.Model.Save(model, data.Schema, modelPath);
}

{
    // The simple overload fine-tunes the English base that the package copies next to the application.
    string baseFolder = MambaPretrainedModels.Resolve(MambaPretrainedModels.EnglishBase);
    if (!Path.GetFullPath(baseFolder).StartsWith(AppContext.BaseDirectory, StringComparison.Ordinal))
        throw new InvalidOperationException($"the English base was found at {baseFolder}, not next to the application ({AppContext.BaseDirectory})");
    var ml = new MLContext(seed: 1);
    var data = ml.Data.LoadFromEnumerable(rows);
    var model = ml.BinaryClassification.Trainers.Mamba(labelColumnName: "Label", textColumnName: "Text", numberOfEpochs: 2, maxSequenceLength: 16).Fit(data);
    var metrics = ml.BinaryClassification.Evaluate(model.Transform(data));
    Console.WriteLine($"fine-tuned the packaged English base: accuracy {metrics.Accuracy:F3}");
}

{
    // A fresh MLContext, as a host (PredictionEnginePool, a service) would create.
    var ml = new MLContext();
    var loaded = ml.Model.Load(modelPath, out _);  // no MambaModelLoader.Register needed
    var engine = ml.Model.CreatePredictionEngine<Review, Prediction>(loaded);
    var p = engine.Predict(new Review { Text = "great film, loved it" });
    Console.WriteLine($"loaded and predicted: {p.PredictedLabel} (probability {p.Probability:F3})");
    if (!float.IsFinite(p.Probability)) throw new InvalidOperationException("the loaded model predicted a non-finite probability");
}

{
    var ml = new MLContext(seed: 1);
    var options = new MambaLanguageModelOptions { ModelSize = MambaModelSize.Tiny, ValidationFraction = 0.1, Seed = 1 };
    options.Training.BlockLength = 24;
    options.Training.BatchSize = 8;
    options.Training.MaxSteps = 10;
    var docs = Enumerable.Range(0, 40).Select(_ => new Document { Text = "the cat sat on the mat. " });
    using var lm = ml.Transforms.Text.MambaLanguageModel(options).Fit(ml.Data.LoadFromEnumerable(docs));
    int pieces = 0;
    Console.Write("streamed: ");
    // A base model trained on plain text: the prompt goes in as it is (a one-line Jinja template), no chat roles.
    using IChatClient chat = new MambaChatClient(lm.Generator,
        new MambaChatClientOptions { Template = ChatPromptTemplate.FromJinja("{% for m in messages %}{{ m['content'] }}{% endfor %}") });
    var chatOptions = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
    UsageDetails? usage = null;
    await foreach (var update in chat.GetStreamingResponseAsync("the cat", chatOptions))
    {
        Console.Write(update.Text);
        if (update.Text.Length > 0) pieces++;
        usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details ?? usage;
    }
    Console.WriteLine($" ({usage?.OutputTokenCount} tokens)");
    if (usage?.OutputTokenCount is not (> 0 and <= 10)) throw new InvalidOperationException($"expected 1 to 10 output tokens, got {usage?.OutputTokenCount}");
    if (pieces == 0) throw new InvalidOperationException("the language model streamed nothing");
}

Directory.Delete(dir, recursive: true);
Console.WriteLine("package consumer: OK");

internal sealed class Review
{
    public string Text { get; set; } = "";
    public bool Label { get; set; }
}

internal sealed class Prediction
{
    public bool PredictedLabel { get; set; }
    public float Probability { get; set; }
}

internal sealed class Document
{
    public string Text { get; set; } = "";
}
