using System.Text;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Training;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// A trained Mamba sequence model as an ML.NET transformer: reads the text (and extra) columns of each row and
/// adds <c>Score</c> (class probabilities / logit / value), <c>Probability</c> (binary) and <c>PredictedLabel</c>
/// (a key carrying the training label's key values, or a boolean). <see cref="Transform"/> scores rows in
/// batches; <c>PredictionEngine</c> scores one row at a time. Save it with <c>mlContext.Model.Save</c>; before
/// <c>mlContext.Model.Load</c> in a new process call <see cref="MambaModelLoader.Register(MLContext)"/>.
/// </summary>
public sealed class MambaTransformer : ITransformer, IDisposable
{
    internal const string LoaderSignature = "MambaSequenceTransformer";
    private const string ModelSignature = "MAMBASEQ";
    private const uint ModelVersion = 0x00010001;
    private const string SettingsStream = "Mamba.Settings.json";

    private readonly MambaTransformerSettings _settings;
    private readonly MambaTokenizerSource _tokenizerSource;
    private readonly SequenceRowMapping _rows;

    internal MambaTransformer(MambaTransformerSettings settings, MambaForSequenceClassification network, MambaTokenizerSource tokenizerSource,
        torch.Device device, TrainingHistory? history)
    {
        _settings = settings;
        _tokenizerSource = tokenizerSource;
        TrainingHistory = history;
        TextReader = new RowTextReader(settings.TextColumnNames, settings.ExtraColumnNames);
        var task = SequenceTask.For(settings.Task);
        Outputs = new MambaOutputColumns(task, settings.NumberOfClasses, settings.ClassNames, settings.ScoreColumnName, settings.PredictedLabelColumnName);
        var tokenizer = tokenizerSource.Create();
        CheckVocabulary(tokenizer.VocabularySize, network.Config.VocabSize);
        Scorer = new MambaNetworkScorer(network, tokenizer, task, settings.MaxSequenceLength, settings.Scaling(), device, settings.Temperature);
        _rows = new SequenceRowMapping(this);
    }

    /// <summary>Refuses a tokenizer that can produce ids the network has no embedding for (they would fail inside libtorch).</summary>
    internal static void CheckVocabulary(int tokenizerSize, int networkSize)
    {
        if (tokenizerSize > networkSize)
            throw new InvalidDataException($"The model's tokenizer has {tokenizerSize} tokens but its network's vocab_size is {networkSize}: the tokenizer and network do not belong together.");
    }

    /// <summary>The fitted temperature the classification logits are divided by (1 = uncalibrated).</summary>
    internal double Temperature => _settings.Temperature;

    /// <summary>What the model predicts.</summary>
    public MambaTask Task => _settings.Task;
    /// <summary>Text columns read from each row.</summary>
    public IReadOnlyList<string> TextColumnNames => _settings.TextColumnNames;
    /// <summary>Extra scalar columns written into each row's text as <c>name: value</c>.</summary>
    public IReadOnlyList<string> ExtraColumnNames => _settings.ExtraColumnNames;
    /// <summary>Class names (the label's key values), in key order; null for binary, regression or labels without key values.</summary>
    public IReadOnlyList<string>? ClassNames => _settings.ClassNames;
    /// <summary>Tokens kept per row; longer rows are cut to their first tokens.</summary>
    public int MaxSequenceLength => _settings.MaxSequenceLength;
    /// <summary>The network (backbone plus classification or regression head).</summary>
    public MambaForSequenceClassification Network => Scorer.Network;
    /// <summary>Losses from training; null for a transformer loaded from a file.</summary>
    public TrainingHistory? TrainingHistory { get; }
    /// <summary>Rows per forward pass in <see cref="Transform"/>.</summary>
    public int ScoringBatchSize { get => _settings.ScoringBatchSize; set => _settings.ScoringBatchSize = Math.Max(1, value); }

    internal RowTextReader TextReader { get; }
    internal MambaOutputColumns Outputs { get; }
    internal MambaNetworkScorer Scorer { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        TextReader.Resolve(inputSchema);
        return Outputs.MakeSchema(inputSchema);
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MambaRowToRowMapper<float[]>(_rows, inputSchema);

    /// <summary>Adds the prediction columns; rows are scored lazily, <see cref="ScoringBatchSize"/> at a time.</summary>
    public IDataView Transform(IDataView input)
    {
        OnnxExportGuard.ThrowIfExporting(nameof(MambaTransformer));
        return new MambaScoredDataView<float[]>(input, _rows);
    }

    /// <summary>Writes the network alone in the Hugging Face layout (config.json with num_labels and pooling, model.safetensors), loadable with <see cref="MambaTrainerOptions.PretrainedModelDirectory"/>.</summary>
    public void SaveNetwork(string directory) => Network.SavePretrained(directory);

    /// <summary>Releases the network's tensors.</summary>
    public void Dispose() => Network.Dispose();

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        MLNetInternalsBridge.BeginSave(ctx, ModelSignature, ModelVersion, LoaderSignature, typeof(MambaTransformer));
        string directory = Directory.CreateTempSubdirectory("mamba-save-").FullName;
        try
        {
            Network.SavePretrained(directory);
            var networkFiles = Directory.GetFiles(directory).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray();
            _settings.NetworkFiles = networkFiles!;
            _settings.TokenizerFiles = _tokenizerSource.Files.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();
            _settings.Tokenizer = _tokenizerSource.Kind;
            ModelZipEntries.WriteAll(ctx, SettingsStream, _settings.ToJson(), directory, networkFiles!, _tokenizerSource.Files);
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    /// <summary>Called by ML.NET's model loader (registered by <see cref="MambaModelLoader"/>); <paramref name="ctx"/> is its ModelLoadContext.</summary>
    /// <remarks>
    /// Everything is read in memory, nothing is written to disk. A damaged or hostile model (bad settings, names or
    /// sizes, weights that do not match the config, a tokenizer larger than the network's vocabulary) is an
    /// <see cref="InvalidDataException"/>.
    /// </remarks>
    internal static MambaTransformer Create(IHostEnvironment env, object ctx)
    {
        MLNetInternalsBridge.BeginLoad(ctx, ModelSignature, ModelVersion, LoaderSignature, typeof(MambaTransformer));
        var settings = MambaTransformerSettings.FromJson(ModelZipEntries.ReadSettings(ctx, SettingsStream));
        var tokenizerFiles = ModelZipEntries.ReadTokenizerFiles(ctx, settings.TokenizerFiles);
        var device = MambaDevice.ForInference();
        MambaForSequenceClassification network;
        try
        {
            var files = ModelZipEntries.ReadNetwork(ctx, settings.NetworkFiles,
                config => MambaParameterLayout.SequenceClassification(config, settings.NumberOfClasses));
            network = MambaForSequenceClassification.FromPretrained(files, settings.NumberOfClasses, settings.Pooling, device);
        }
        catch (Exception e) when (e is not InvalidDataException && e is IOException or ArgumentException)
        {
            throw new InvalidDataException($"The Mamba network in the model could not be read: {e.Message}", e);
        }
        try
        {
            network.eval();
            var tokenizerSource = new MambaTokenizerSource(settings.Tokenizer, tokenizerFiles);
            return new MambaTransformer(settings, network, tokenizerSource, device, null);
        }
        catch (Exception e)
        {
            network.Dispose();
            if (e is System.Text.Json.JsonException or ArgumentException or FormatException or IOException)
                throw new InvalidDataException($"The tokenizer in the model could not be read: {e.Message}", e);
            throw;
        }
    }
}
