using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Trains (from scratch, or fine-tunes a Hugging Face checkpoint) a Mamba causal language model on a text column;
/// the fitted <see cref="MambaLanguageModelTransformer"/> writes a generated continuation for a prompt column.
/// Create it with <c>mlContext.Transforms.Text.MambaLanguageModel(...)</c>.
/// </summary>
public sealed class MambaLanguageModelEstimator : IEstimator<MambaLanguageModelTransformer>
{
    private readonly MambaLanguageModelOptions _options;

    internal MambaLanguageModelEstimator(MambaLanguageModelOptions options) =>
        _options = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>Checks the prompt column and adds the output column (both text).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        string name = _options.PromptColumnName;
        if (!inputSchema.Any(c => c.Name == name))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The prompt column '{name}' is not in the data.");
        var prompt = inputSchema.Last(c => c.Name == name);
        if (prompt.Kind != SchemaShape.Column.VectorKind.Scalar || prompt.ItemType is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The prompt column '{name}' must hold text, but holds {prompt.ItemType}.");
        var rows = new LanguageModelRowMapping(name, _options.OutputColumnName, p => p);
        var added = MLNetInternalsBridge.CreateSchemaShape(rows.MakeOutputSchema(new DataViewSchema.Builder().ToSchema()));
        return new SchemaShape(inputSchema.Where(c => c.Name != _options.OutputColumnName).Concat(added));
    }

    /// <summary>Reads every row of the training column, trains, and returns the generating transformer.</summary>
    public MambaLanguageModelTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = input.Schema.GetColumnOrNull(_options.TrainingColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"The training column '{_options.TrainingColumnName}' is not in the data.");
        if (column.Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(input), $"The training column '{_options.TrainingColumnName}' must be text, not {column.Type}.");
        var texts = input.GetColumn<string>(_options.TrainingColumnName).ToList();

        string? checkpoint = _options.PretrainedModelDirectory;
        var tokenizerSource = MambaTokenizerSource.FromOptions(_options.Tokenizer, _options.TokenizerPath ?? checkpoint);
        var tokenizer = tokenizerSource.Create();
        var model = checkpoint is not null ? MambaForCausalLM.FromPretrained(checkpoint) : NewModel(tokenizer);
        if (model.Config.VocabSize < tokenizer.VocabularySize)
            throw new InvalidOperationException($"The model's vocabulary ({model.Config.VocabSize}) is smaller than the tokenizer's ({tokenizer.VocabularySize}).");

        var blocks = TokenBlocks.FromTexts(texts, tokenizer, _options.Training.BlockLength);
        var (train, validation) = _options.ValidationFraction > 0 ? blocks.Split(_options.ValidationFraction) : (blocks, null);
        var trainer = new LanguageModelTrainer(model, _options.Training);
        var result = trainer.Train(train);
        double? perplexity = validation is { Count: > 0 } ? Math.Exp(trainer.Loss(validation)) : null;
        return new MambaLanguageModelTransformer(model, tokenizerSource, _options.PromptColumnName, _options.OutputColumnName,
            _options.Sampling.Clone(), result, perplexity);
    }

    private MambaForCausalLM NewModel(IMambaTokenizer tokenizer)
    {
        return TorchGlobalRandom.Seeded(_options.Seed, () => new MambaForCausalLM(MambaModelPresets.Create(_options.ModelSize, tokenizer, _options.Architecture)));
    }
}
