using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Settings of <c>mlContext.Transforms.Text.MambaLanguageModel(options)</c>.</summary>
public sealed class MambaLanguageModelOptions
{
    /// <summary>The text column the model learns from (one document per row). Default "Text".</summary>
    public string TrainingColumnName { get; set; } = "Text";

    /// <summary>The text column holding prompts when transforming. Default "Prompt".</summary>
    public string PromptColumnName { get; set; } = "Prompt";

    /// <summary>The text column written with each prompt's continuation. Default "GeneratedText".</summary>
    public string OutputColumnName { get; set; } = "GeneratedText";

    /// <summary>
    /// A Hugging Face Mamba or Mamba-2 checkpoint directory (config.json + safetensors) to fine-tune; null trains a new model of
    /// <see cref="ModelSize"/>.
    /// </summary>
    public string? PretrainedModelDirectory { get; set; }

    /// <summary>
    /// The tokenizer (saved with the model). Default <see cref="MambaTokenizerKind.Bytes"/>; use
    /// <see cref="MambaTokenizerKind.HuggingFace"/> with a checkpoint's own tokenizer.json.
    /// </summary>
    public MambaTokenizerKind Tokenizer { get; set; } = MambaTokenizerKind.Bytes;

    /// <summary>A Hugging Face tokenizer.json or its folder; defaults to <see cref="PretrainedModelDirectory"/>.</summary>
    public string? TokenizerPath { get; set; }

    /// <summary>Shape of a new model (ignored when fine-tuning a checkpoint). Default <see cref="MambaModelSize.Small"/>.</summary>
    public MambaModelSize ModelSize { get; set; } = MambaModelSize.Small;

    /// <summary>The mixer family of a new model: Mamba-1 (default) or Mamba-2 (ignored when fine-tuning a checkpoint,
    /// which names its own). The saved model records it in its config.json.</summary>
    public MambaArchitecture Architecture { get; set; } = MambaArchitecture.Mamba1;

    /// <summary>Training settings (block length, batch size, steps, learning rate, time limit...).</summary>
    public LanguageModelTrainingOptions Training { get; set; } = new();

    /// <summary>Share of the text kept aside to measure perplexity; 0 = none. Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;

    /// <summary>How the transformer generates (its <see cref="MambaLanguageModelTransformer.Sampling"/>, changeable after fitting). Default: greedy, 64 tokens.</summary>
    public SamplingOptions Sampling { get; set; } = SamplingOptions.Greedy(64);

    /// <summary>Seeds the new model's weights. Default 0.</summary>
    public int Seed { get; set; }
}
