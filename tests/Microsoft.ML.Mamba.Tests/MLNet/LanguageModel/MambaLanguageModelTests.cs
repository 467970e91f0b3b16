using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

public class MambaLanguageModelTests
{
    private sealed class Document { public string Text { get; set; } = ""; }
    private sealed class PromptRow { public string Prompt { get; set; } = ""; }
    private sealed class QuestionRow { public string Question { get; set; } = "x"; }
    private sealed class Continuation { public string Prompt { get; set; } = ""; public string GeneratedText { get; set; } = ""; }

    private static MambaLanguageModelTransformer Train(MLContext ml, int steps)
    {
        var documents = Enumerable.Range(0, 60).Select(_ => new Document { Text = "the cat sat on the mat. " }).ToList();
        var options = new MambaLanguageModelOptions
        {
            ModelSize = MambaModelSize.Tiny, ValidationFraction = 0.1, Seed = 1,
            Sampling = SamplingOptions.Greedy(12),
        };
        options.Training.BlockLength = 24;
        options.Training.BatchSize = 8;
        options.Training.MaxSteps = steps;
        options.Training.LearningRate = 1e-2;
        options.Training.WarmupFraction = Math.Min(5.0 / steps, 0.5);   // 5 warm-up steps (fewer in the shortest runs)
        return ml.Transforms.Text.MambaLanguageModel(options).Fit(ml.Data.LoadFromEnumerable(documents));
    }

    [Fact]
    public void FitLearnsTheTextAndTransformWritesTheContinuation()
    {
        var ml = new MLContext(seed: 1);
        var model = Train(ml, steps: 40);
        Assert.Equal(40, model.TrainingResult!.Steps);
        Assert.True(model.TrainingResult.FinalLoss < 1.5, $"final training loss {model.TrainingResult.FinalLoss:F3}");
        Assert.True(model.ValidationPerplexity < 4, $"validation perplexity {model.ValidationPerplexity:F2}");

        var prompts = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "the cat s" }, new PromptRow { Prompt = "on the" } });
        var rows = ml.Data.CreateEnumerable<Continuation>(model.Transform(prompts), reuseRowObject: false).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(model.Generator.Generate("the cat s", model.Sampling, cancellationToken: TestContext.Current.CancellationToken).Text, rows[0].GeneratedText);
        Assert.StartsWith("at on", rows[0].GeneratedText);

        var engine = ml.Model.CreatePredictionEngine<PromptRow, Continuation>(model);
        Assert.Equal(rows[1].GeneratedText, engine.Predict(new PromptRow { Prompt = "on the" }).GeneratedText);
    }

    [Fact]
    public void SchemaIsChecked()
    {
        var ml = new MLContext(seed: 1);
        var model = Train(ml, steps: 2);
        var data = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "a" } });
        Assert.IsType<TextDataViewType>(model.GetOutputSchema(data.Schema)["GeneratedText"].Type);
        Assert.ThrowsAny<Exception>(() => model.GetOutputSchema(ml.Data.LoadFromEnumerable(new[] { new QuestionRow() }).Schema));
    }

    [Fact]
    public void SchemaErrorsNameThePromptColumn()
    {
        var ml = new MLContext(seed: 1);
        var questions = ml.Data.LoadFromEnumerable(new[] { new QuestionRow() });
        var estimator = ml.Transforms.Text.MambaLanguageModel(new MambaLanguageModelOptions());
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => estimator.GetOutputSchema(MLNetInternalsBridge.CreateSchemaShape(questions.Schema)));
        Assert.Contains("'Prompt'", missing.Message);
        var numbers = ml.Data.LoadFromEnumerable(new[] { new { Prompt = 1f } });
        var wrongType = Assert.Throws<ArgumentOutOfRangeException>(() => estimator.GetOutputSchema(MLNetInternalsBridge.CreateSchemaShape(numbers.Schema)));
        Assert.Contains("must hold text", wrongType.Message);
        var prompts = MLNetInternalsBridge.CreateSchemaShape(ml.Data.LoadFromEnumerable(new[] { new PromptRow() }).Schema);
        Assert.Equal(TextDataViewType.Instance, estimator.GetOutputSchema(prompts).Single(c => c.Name == "GeneratedText").ItemType);

        var model = Train(ml, steps: 1);
        Assert.Contains("must hold text", Assert.Throws<ArgumentOutOfRangeException>(() => model.Transform(numbers)).Message);
        Assert.Contains("'Prompt'", Assert.Throws<ArgumentOutOfRangeException>(() => model.GetRowToRowMapper(questions.Schema)).Message);
    }

    [Fact]
    public void SavesAndLoadsWithMLContextModel()
    {
        var ml = new MLContext(seed: 1);
        var model = Train(ml, steps: 10);
        model.Sampling = new SamplingOptions { Temperature = 0.9f, TopK = 5, Seed = 3, MaxNewTokens = 10, StopStrings = ["."] };
        var prompts = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "the cat s" }, new PromptRow { Prompt = "mat" } });
        var before = ml.Data.CreateEnumerable<Continuation>(model.Transform(prompts), reuseRowObject: false).Select(r => r.GeneratedText).ToList();

        using var stream = new MemoryStream();
        ml.Model.Save(model, prompts.Schema, stream);
        stream.Position = 0;
        var fresh = new MLContext(seed: 2);
        var loaded = Assert.IsType<MambaLanguageModelTransformer>(MambaModelLoader.Load(fresh, stream, out _));
        Assert.Equal(10, loaded.Sampling.MaxNewTokens);
        Assert.Equal(["."], loaded.Sampling.StopStrings);
        var after = fresh.Data.CreateEnumerable<Continuation>(loaded.Transform(prompts), reuseRowObject: false).Select(r => r.GeneratedText).ToList();
        Assert.Equal(before, after);
    }
}
