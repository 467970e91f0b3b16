using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// A trained Mamba language model as an ML.NET transformer: for each row it continues the prompt column and
/// writes the continuation to the output column, lazily, with <see cref="Sampling"/>. Works in pipelines,
/// <c>Transform</c> and <c>PredictionEngine</c>.
/// </summary>
/// <remarks>
/// Not yet savable with <c>mlContext.Model.Save</c>: that waits for the shared ML.NET persistence bridge.
/// Until then save the network with <see cref="SavePretrained"/> and rebuild with
/// <see cref="MambaLanguageModelOptions.PretrainedModelDirectory"/> (or <see cref="MambaGenerator"/> directly).
/// </remarks>
public sealed class MambaLanguageModelTransformer : ITransformer, IDisposable
{
    private readonly ITransformer _mapping;
    private readonly object _lock = new();

    internal MambaLanguageModelTransformer(MLContext context, MambaForCausalLM model, IMambaTokenizer tokenizer,
        string promptColumnName, string outputColumnName, SamplingOptions sampling,
        LanguageModelTrainingResult? training, double? validationPerplexity)
    {
        Generator = new MambaGenerator(model, tokenizer);
        PromptColumnName = promptColumnName;
        OutputColumnName = outputColumnName;
        Sampling = sampling;
        TrainingResult = training;
        ValidationPerplexity = validationPerplexity;
        var estimator = PromptMapping.Estimator(context, promptColumnName, outputColumnName, Continue);
        _mapping = estimator.Fit(context.Data.LoadFromEnumerable(Array.Empty<PromptMapping.Input>(), PromptMapping.InputSchema(promptColumnName)));
    }

    /// <summary>The generator behind the column: use it for batches, streaming and token ids.</summary>
    public MambaGenerator Generator { get; }

    /// <summary>The prompt column read.</summary>
    public string PromptColumnName { get; }

    /// <summary>The column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>How continuations are generated; may be replaced between transforms.</summary>
    public SamplingOptions Sampling { get; set; }

    /// <summary>What training did; null when the model was not trained here.</summary>
    public LanguageModelTrainingResult? TrainingResult { get; }

    /// <summary>Perplexity on the held-out text after training; null without validation text.</summary>
    public double? ValidationPerplexity { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapping.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapping.GetRowToRowMapper(inputSchema);

    /// <summary>Adds the output column; each row is generated when read.</summary>
    public IDataView Transform(IDataView input) => _mapping.Transform(input);

    /// <summary>Writes the network in the Hugging Face layout (config.json + model.safetensors).</summary>
    public void SavePretrained(string directory) => Generator.Model.SavePretrained(directory);

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        "Saving a Mamba language model with mlContext.Model.Save is not supported yet; use SavePretrained(directory) and " +
        "MambaLanguageModelOptions.PretrainedModelDirectory to reload it.");

    /// <summary>Releases the network's tensors.</summary>
    public void Dispose() => Generator.Model.Dispose();

    private string Continue(string? prompt)
    {
        if (string.IsNullOrEmpty(prompt) && Generator.Tokenizer.BosTokenId is null) return "";
        // Cursors may read rows on several threads; one generation at a time keeps the CPU from oversubscribing.
        lock (_lock) return Generator.Generate(prompt ?? "", Sampling).Text;
    }
}
