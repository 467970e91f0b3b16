using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Examples.FineTuning;

/// <summary>The Mamba settings the comparison uses: from scratch (the README's recipe) and fine-tuned from a base.</summary>
public sealed class MambaRecipes
{
    public enum Start { Scratch, Base, DomainAdapted }

    public required int Epochs { get; init; }
    public required int DomainAdaptationSteps { get; init; }
    public required string BaseDirectory { get; init; }

    /// <summary>Warm-up share when training from scratch (MambaTrainerOptions.WarmupFraction).</summary>
    public double WarmupFraction { get; init; } = 0.1;

    /// <summary>Peak learning rate of the head when fine-tuning.</summary>
    public double FineTuneLearningRate { get; init; } = 5e-3;

    /// <summary>The backbone's share of <see cref="FineTuneLearningRate"/>: a pretrained backbone wants gentler steps than a new head.</summary>
    public double BackboneLearningRateFactor { get; init; } = 0.5;

    /// <summary>Dropout before the head when fine-tuning.</summary>
    public double HeadDropout { get; init; } = 0.1;

    /// <summary>Tokens per row, GPT-2-sized, instead of the set's own budget (<see cref="BenchmarkDataset.MaxTokens"/>); null keeps the set's.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>
    /// Give the base the text that the GPT-2 budget covers, not the same number of tokens: its budget is scaled by how
    /// many of its tokens the training rows take per GPT-2 token. The base's BPE, learnt on old books, splits e-mails
    /// (field names, numbers, MIME text) into 1.6 times as many tokens as GPT-2, reviews into 1.3 times.
    /// Null: the set's recipe (<see cref="BenchmarkDataset.BaseReadsSameText"/>).
    /// </summary>
    public bool? SameTextForBase { get; init; }

    private double? _baseTokensPerGpt2Token;

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
            options.MaxSequenceLength = MaxTokens ?? data.MaxTokens;
            options.LearningRate = 5e-3;
            options.WeightDecay = 0.05;
            options.WarmupFraction = WarmupFraction;
            return ml.BinaryClassification.Trainers.Mamba(options).Fit(data.Train);
        }
        // Fine-tuning: the head at LearningRate, the pretrained backbone at half of it, mean pooling.
        options.PretrainedModelDirectory = BaseDirectory;
        options.Tokenizer = TokenizerOf(BaseDirectory);
        options.MaxSequenceLength = BaseBudget(data, options.Tokenizer.Value);
        options.LearningRate = FineTuneLearningRate;
        options.BackboneLearningRateFactor = BackboneLearningRateFactor;
        options.HeadDropout = HeadDropout;
        options.WeightDecay = 0.01;
        if (start == Start.DomainAdapted)
            options.DomainAdaptivePretraining = new DomainAdaptivePretrainingOptions
            {
                Steps = DomainAdaptationSteps, LearningRate = 5e-4, WarmupFraction = 0.13, BlockLength = 128, BatchSize = 16,
            };
        return ml.BinaryClassification.Trainers.Mamba(options).Fit(data.Train);
    }

    /// <summary>Tokens per row for the base: the GPT-2-sized budget, scaled to the same text when asked (bytes: always).</summary>
    public int BaseBudget(BenchmarkDataset data, MambaTokenizerKind kind)
    {
        int budget = MaxTokens ?? data.MaxTokens;
        if (!(SameTextForBase ?? data.BaseReadsSameText)) return kind == MambaTokenizerKind.Bytes ? budget * 4 : budget;
        _baseTokensPerGpt2Token ??= TokensPerGpt2Token(kind switch
        {
            MambaTokenizerKind.Bytes => MambaTokenizers.Bytes(),
            MambaTokenizerKind.Gpt2 => MambaTokenizers.Gpt2(),
            _ => MambaTokenizers.FromHuggingFace(BaseDirectory),
        }, data.TrainTexts);
        return (int)Math.Ceiling(budget * _baseTokensPerGpt2Token.Value);
    }

    // Measured on the training rows only, so the budget does not depend on the test set.
    private static double TokensPerGpt2Token(IMambaTokenizer tokenizer, IReadOnlyList<string> texts)
    {
        var gpt2 = MambaTokenizers.Gpt2();
        return texts.Sum(t => (double)tokenizer.Encode(t).Count) / Math.Max(1, texts.Sum(t => gpt2.Encode(t).Count));
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
