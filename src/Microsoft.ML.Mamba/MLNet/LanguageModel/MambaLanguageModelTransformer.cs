using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// A trained Mamba language model as an ML.NET transformer: for each row it continues the prompt column and
/// writes the continuation to the output column, lazily, with <see cref="Sampling"/>. Works in pipelines,
/// <c>Transform</c> and <c>PredictionEngine</c>.
/// </summary>
/// <remarks>
/// Saves with <c>mlContext.Model.Save</c> (network, tokenizer, column names and <see cref="Sampling"/>); before
/// <c>mlContext.Model.Load</c> in a new process call <see cref="MambaModelLoader.Register(MLContext)"/>.
/// </remarks>
public sealed class MambaLanguageModelTransformer : ITransformer, IDisposable
{
    internal const string LoaderSignature = "MambaLanguageModel";
    private const string ModelSignature = "MAMBALMG";
    private const uint ModelVersion = 0x00010001;
    private const string SettingsStream = "Mamba.LanguageModel.Settings.json";

    private readonly LanguageModelRowMapping _rows;
    private readonly MambaTokenizerSource _tokenizerSource;
    private readonly object _lock = new();

    internal MambaLanguageModelTransformer(MambaForCausalLM model, MambaTokenizerSource tokenizerSource,
        string promptColumnName, string outputColumnName, SamplingOptions sampling,
        LanguageModelTrainingResult? training, double? validationPerplexity)
    {
        _tokenizerSource = tokenizerSource;
        model.eval();
        var tokenizer = tokenizerSource.Create();
        MambaTransformer.CheckVocabulary(tokenizer.VocabularySize, model.Config.VocabSize);
        Generator = new MambaGenerator(model, tokenizer);
        PromptColumnName = promptColumnName;
        OutputColumnName = outputColumnName;
        Sampling = sampling;
        TrainingResult = training;
        ValidationPerplexity = validationPerplexity;
        _rows = new LanguageModelRowMapping(promptColumnName, outputColumnName, Continue);
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
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        _rows.ResolveInputs(inputSchema);
        return _rows.MakeOutputSchema(inputSchema);
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MambaRowToRowMapper<string>(_rows, inputSchema);

    /// <summary>Adds the output column; each row is generated when read.</summary>
    public IDataView Transform(IDataView input)
    {
        OnnxExportGuard.ThrowIfExporting(nameof(MambaLanguageModelTransformer));
        return new MambaScoredDataView<string>(input, _rows);
    }

    /// <summary>Writes the network in the Hugging Face layout (config.json + model.safetensors) with its tokenizer record (<see cref="AI.MambaLanguageModelFolder"/>).</summary>
    public void SavePretrained(string directory)
    {
        Generator.Model.SavePretrained(directory);
        AI.MambaLanguageModelFolder.WriteTokenizerRecord(directory, _tokenizerSource, Generator.Tokenizer.VocabularySize);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        MLNetInternalsBridge.BeginSave(ctx, ModelSignature, ModelVersion, LoaderSignature, typeof(MambaLanguageModelTransformer));
        string directory = Directory.CreateTempSubdirectory("mamba-save-").FullName;
        try
        {
            Generator.Model.SavePretrained(directory);   // the tokenizer travels in its own entries
            var networkFiles = Directory.GetFiles(directory).Select(f => Path.GetFileName(f)).OrderBy(n => n, StringComparer.Ordinal).ToArray();
            var settings = new MambaLanguageModelSettings
            {
                PromptColumnName = PromptColumnName, OutputColumnName = OutputColumnName, Sampling = Sampling,
                Tokenizer = _tokenizerSource.Kind, NetworkFiles = networkFiles,
                TokenizerFiles = _tokenizerSource.Files.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray(),
            };
            ModelZipEntries.WriteAll(ctx, SettingsStream, settings.ToJson(), directory, networkFiles!, _tokenizerSource.Files);
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    /// <summary>Called by ML.NET's model loader (registered by <see cref="MambaModelLoader"/>); <paramref name="ctx"/> is its ModelLoadContext.</summary>
    /// <remarks>
    /// Everything is read in memory, nothing is written to disk. A damaged or hostile model (bad settings, names or
    /// sizes, weights that do not match the config, a tokenizer larger than the network's vocabulary) is an
    /// <see cref="InvalidDataException"/>.
    /// </remarks>
    internal static MambaLanguageModelTransformer Create(IHostEnvironment env, object ctx)
    {
        MLNetInternalsBridge.BeginLoad(ctx, ModelSignature, ModelVersion, LoaderSignature, typeof(MambaLanguageModelTransformer));
        var settings = MambaLanguageModelSettings.FromJson(ModelZipEntries.ReadSettings(ctx, SettingsStream));
        var tokenizer = new MambaTokenizerSource(settings.Tokenizer, ModelZipEntries.ReadTokenizerFiles(ctx, settings.TokenizerFiles));
        MambaForCausalLM model;
        try
        {
            var files = ModelZipEntries.ReadNetwork(ctx, settings.NetworkFiles, MambaParameterLayout.CausalLM);
            model = MambaForCausalLM.FromPretrained(files, MambaDevice.ForInference());
        }
        catch (Exception e) when (e is not InvalidDataException && e is IOException or ArgumentException)
        {
            throw new InvalidDataException($"The Mamba network in the model could not be read: {e.Message}", e);
        }
        try
        {
            return new MambaLanguageModelTransformer(model, tokenizer, settings.PromptColumnName, settings.OutputColumnName, settings.Sampling, null, null);
        }
        catch (Exception e)
        {
            model.Dispose();
            if (e is System.Text.Json.JsonException or ArgumentException or FormatException or IOException)
                throw new InvalidDataException($"The tokenizer in the model could not be read: {e.Message}", e);
            throw;
        }
    }

    /// <summary>Releases the network's tensors.</summary>
    public void Dispose() => Generator.Model.Dispose();

    private string Continue(string prompt)
    {
        if (prompt.Length == 0 && Generator.Tokenizer.BosTokenId is null) return "";
        // Cursors may read rows on several threads; one generation at a time keeps the CPU from oversubscribing.
        lock (_lock) return Generator.Generate(prompt, Sampling).Text;
    }
}
