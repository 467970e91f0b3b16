using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.FineTuning;

/// <summary>The Mamba settings the comparison uses: from scratch (the README's recipe) and fine-tuned from a base.</summary>
public sealed class MambaRecipes
{
    public enum Start { Scratch, Base, DomainAdapted }

    public required int Epochs { get; init; }
    public required int DomainAdaptationSteps { get; init; }
    public required string BaseDirectory { get; init; }

    /// <summary>Peak learning rate when fine-tuning (a pretrained backbone wants a gentler rate than a new network).</summary>
    public double FineTuneLearningRate { get; init; } = 5e-4;

    public ITransformer Fit(MLContext ml, BenchmarkDataset data, Start start, int seed)
    {
        var options = new MambaTrainerOptions
        {
            LabelColumnName = data.LabelColumn,
            TextColumnNames = data.TextColumns,
            ExtraColumnNames = data.ExtraColumns,
            NumberOfEpochs = Epochs,
            BatchSize = 32,
            ValidationSet = data.Validation,
            EarlyStoppingPatience = 2,
            Pooling = SequencePooling.Mean,
            LogEveryNumberOfSteps = 0,
            Seed = seed,
        };
        if (start == Start.Scratch)
        {
            // The README's from-scratch recipe: tiny, GPT-2 tokens, mean pooling, a high rate.
            options.ModelSize = MambaModelSize.Tiny;
            options.Tokenizer = MambaTokenizerKind.Gpt2;
            options.MaxSequenceLength = data.MaxTokens;
            options.LearningRate = 5e-3;
            options.WeightDecay = 0.05;
            return ml.BinaryClassification.Trainers.Mamba(options).Fit(data.Train);
        }
        string directory = BaseDirectory;
        string? adapted = null;
        try
        {
            if (start == Start.DomainAdapted) directory = adapted = Adapt(data, seed);
            options.PretrainedModelDirectory = directory;
            options.Tokenizer = TokenizerOf(directory);
            options.MaxSequenceLength = options.Tokenizer == MambaTokenizerKind.Bytes ? data.MaxTokens * 4 : data.MaxTokens;
            options.LearningRate = FineTuneLearningRate;
            options.WeightDecay = 0.01;
            return ml.BinaryClassification.Trainers.Mamba(options).Fit(data.Train);
        }
        finally
        {
            if (adapted is not null) Directory.Delete(Path.GetDirectoryName(adapted)!, recursive: true);
        }
    }

    // Continues pretraining the base on the training rows' text; returns the adapted model's folder.
    private string Adapt(BenchmarkDataset data, int seed)
    {
        string work = Path.Combine(Path.GetTempPath(), $"mamba-finetuning-dapt-{Guid.NewGuid():N}");
        var tokenizer = MambaLanguageModelFolder.LoadTokenizer(BaseDirectory);
        var prepared = PretrainingData.Prepare(data.TrainTexts, tokenizer, Path.Combine(work, "data"), new PretrainingDataOptions { HeldOutFraction = 0 });
        using var tokens = PackedTokenFile.Open(prepared.TrainPath);
        var model = MambaForCausalLM.FromPretrained(BaseDirectory);
        var result = new Pretrainer(model, new PretrainingOptions
        {
            BlockLength = (int)Math.Min(128, prepared.TrainTokens - 1), BatchSize = 16, MaxSteps = DomainAdaptationSteps,
            LearningRate = 5e-4, WarmupSteps = Math.Min(20, DomainAdaptationSteps / 5), WeightDecay = 0.01, Seed = seed,
            EvaluateEvery = 0, CheckpointEvery = 0,
        }).Train(tokens);
        Console.WriteLine($"  domain-adaptive pretraining: {result.Steps} steps, {result.Tokens:N0} tokens, final loss {result.FinalTrainLoss:F3}, {result.Elapsed.TotalSeconds:F0}s");
        string folder = Path.Combine(work, "model");
        Pretrainer.SaveModel(folder, model, tokenizer, result, TokenizerOf(BaseDirectory) == MambaTokenizerKind.HuggingFace ? BaseDirectory : null);
        return folder;
    }

    /// <summary>The tokenizer a saved model folder records (a Hugging Face checkpoint without a record: its tokenizer.json).</summary>
    public static MambaTokenizerKind TokenizerOf(string directory)
    {
        string record = Path.Combine(directory, MambaLanguageModelFolder.TokenizerRecordFile);
        if (!File.Exists(record)) return MambaTokenizerKind.HuggingFace;
        return JsonNode.Parse(File.ReadAllText(record))?["kind"]?.GetValue<string>() switch
        {
            "bytes" => MambaTokenizerKind.Bytes,
            "gpt2" => MambaTokenizerKind.Gpt2,
            _ => MambaTokenizerKind.HuggingFace,
        };
    }
}
