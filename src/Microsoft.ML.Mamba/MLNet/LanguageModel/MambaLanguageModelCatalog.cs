using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML;

/// <summary><c>mlContext.Transforms.Text.MambaLanguageModel(...)</c>: train a Mamba language model and generate text in a pipeline.</summary>
public static class MambaLanguageModelCatalog
{
    /// <summary>Trains a small Mamba language model from scratch on <paramref name="trainingColumnName"/> (UTF-8 byte tokens) and generates greedily.</summary>
    /// <param name="catalog">mlContext.Transforms.Text.</param>
    /// <param name="outputColumnName">The generated-text column.</param>
    /// <param name="promptColumnName">The prompt column read when transforming.</param>
    /// <param name="trainingColumnName">The text learnt from.</param>
    /// <param name="maxSteps">Optimizer steps.</param>
    /// <param name="maxNewTokens">Tokens generated per prompt.</param>
    public static MambaLanguageModelEstimator MambaLanguageModel(this TransformsCatalog.TextTransforms catalog,
        string outputColumnName = "GeneratedText", string promptColumnName = "Prompt", string trainingColumnName = "Text",
        int maxSteps = 200, int maxNewTokens = 64)
    {
        var options = new MambaLanguageModelOptions
        {
            OutputColumnName = outputColumnName, PromptColumnName = promptColumnName, TrainingColumnName = trainingColumnName,
            Sampling = SamplingOptions.Greedy(maxNewTokens),
        };
        options.Training.MaxSteps = maxSteps;
        return MambaLanguageModel(catalog, options);
    }

    /// <summary>A Mamba language model with every setting, including fine-tuning a Hugging Face checkpoint.</summary>
    public static MambaLanguageModelEstimator MambaLanguageModel(this TransformsCatalog.TextTransforms catalog, MambaLanguageModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        // So this MLContext can load what it saves, as the Mamba trainers do.
        MambaModelLoader.Register(MLNetInternalsBridge.GetEnvironment(catalog).ComponentCatalog);
        return new(options);
    }
}
