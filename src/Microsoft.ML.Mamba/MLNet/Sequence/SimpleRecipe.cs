using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The settings behind the catalogs' simple <c>Trainers.Mamba(label, text, ...)</c> overloads: the recipes that measured
/// best on real data (docs/results/2026-12-07-fine-tuning.md, examples/FineTuning), fine-tuning from a base by default.
/// </summary>
internal static class SimpleRecipe
{
    /// <summary>The share of the rows held out for early stopping and temperature scaling.</summary>
    public const double ValidationFraction = 0.1;

    public static MambaTrainerOptions Options(string label, string text, int epochs, int batchSize, int maxLength, string? pretrainedModel)
    {
        var options = new MambaTrainerOptions
        {
            LabelColumnName = label,
            TextColumnNames = [text],
            NumberOfEpochs = epochs,
            BatchSize = batchSize,
            MaxSequenceLength = maxLength,
            ValidationFraction = ValidationFraction,
            // Last-token pooling lets a small network forget a sentence's early words; the mean keeps every token's say.
            Pooling = SequencePooling.Mean,
            LearningRate = 5e-3,
        };
        if (pretrainedModel is null)
        {
            options.ModelSize = MambaModelSize.Tiny;
            options.Tokenizer = MambaTokenizerKind.Gpt2;
            options.WeightDecay = 0.05;
        }
        else
        {
            // The new head at the full rate, the pretrained backbone at half of it; dropout before the head against
            // the overfitting that sets in within two epochs on a few thousand rows.
            options.PretrainedModelDirectory = pretrainedModel;
            options.BackboneLearningRateFactor = 0.5;
            options.HeadDropout = 0.1;
            options.WeightDecay = 0.01;
        }
        return options;
    }
}
