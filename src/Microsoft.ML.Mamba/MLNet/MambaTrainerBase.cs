using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using Microsoft.ML.Mamba.Training;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Shared training logic of the Mamba estimators: reads the rows as text, tokenizes, builds or loads the
/// network, trains it and returns a <see cref="MambaTransformer"/>.
/// </summary>
public abstract class MambaTrainerBase : IEstimator<MambaTransformer>
{
    private readonly IHostEnvironment _environment;
    private readonly MambaTrainerOptions _options;

    private protected MambaTrainerBase(IHostEnvironment environment, MambaTrainerOptions options, MambaTask task)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _environment = environment;
        _options = options.Clone();
        Task = task;
        MambaModelLoader.Register(environment.ComponentCatalog); // so this MLContext can load what it saves
    }

    /// <summary>The task this estimator trains for.</summary>
    public MambaTask Task { get; }

    /// <summary>A copy of the settings this estimator trains with.</summary>
    public MambaTrainerOptions Options => _options.Clone();

    /// <summary>Trains on <paramref name="input"/>; rows with a missing label (key 0 or NaN) are skipped.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type (the message names it).</exception>
    /// <exception cref="InvalidOperationException">No labelled rows to train on.</exception>
    /// <exception cref="OperationCanceledException"><c>MLContext.CancelExecution()</c> was called.</exception>
    public MambaTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var host = _environment.Register("Mamba");
        int seed = _options.Seed ?? host.Rand.Next();
        var label = LabelInfo.Read(input.Schema, _options.LabelColumnName, Task);
        var reader = new RowTextReader(_options.TextColumnNames, _options.ExtraColumnNames);
        reader.Resolve(input.Schema);

        var tokenizerSource = MambaTokenizerSource.FromOptions(_options.Tokenizer, _options.TokenizerPath ?? _options.PretrainedModelDirectory);
        var tokenizer = tokenizerSource.Create();
        var train = ReadExamples(input, reader, label, tokenizer);
        if (train.Count == 0)
            throw new InvalidOperationException($"The training set has no rows with a label in '{_options.LabelColumnName}': there is nothing to train on.");
        List<TokenizedExample>? validation = null;
        if (_options.ValidationSet is not null)
        {
            var validationLabel = LabelInfo.Read(_options.ValidationSet.Schema, _options.LabelColumnName, Task);
            validation = ReadExamples(_options.ValidationSet, reader, validationLabel, tokenizer);
        }

        // Regression targets are standardised so one learning rate suits any label scale.
        float mean = 0, scale = 1;
        if (Task == MambaTask.Regression)
        {
            mean = train.Average(e => e.Target);
            double variance = train.Average(e => (e.Target - mean) * (double)(e.Target - mean));
            scale = variance > 1e-12 ? (float)Math.Sqrt(variance) : 1f;
            train = train.Select(e => e with { Target = (e.Target - mean) / scale }).ToList();
            validation = validation?.Select(e => e with { Target = (e.Target - mean) / scale }).ToList();
        }

        var device = MambaDevice.ForTraining(MLNetInternalsBridge.GetGpuSettings(_environment));
        var network = TorchGlobalRandom.Seeded(seed, () => CreateNetwork(label.NumberOfOutputs, tokenizer));
        network.to(device);
        int frozen = ParameterGroups.Freeze(network.named_parameters(), _options.FreezeEmbeddings, _options.FrozenLayerCount);

        using var channel = host.Start("Mamba training");
        channel.Info(MessageSensitivity.None, $"Mamba {Task}: {train.Count} training rows" + (validation is null ? "" : $", {validation.Count} validation rows") +
            $", {network.parameters().Sum(p => p.numel())} parameters ({frozen} tensors frozen), device {device}, seed {seed}.");
        var settings = new MambaTransformerSettings
        {
            Task = Task,
            TextColumnNames = _options.TextColumnNames,
            ExtraColumnNames = _options.ExtraColumnNames,
            ScoreColumnName = _options.ScoreColumnName,
            PredictedLabelColumnName = _options.PredictedLabelColumnName,
            NumberOfClasses = label.NumberOfOutputs,
            ClassNames = label.ClassNames,
            MaxSequenceLength = _options.MaxSequenceLength,
            Pooling = _options.Pooling,
            ScoringBatchSize = _options.BatchSize,
            TargetMean = mean,
            TargetScale = scale,
            Tokenizer = tokenizerSource.Kind,
        };
        var scorer = new MambaNetworkScorer(network, tokenizer, Task, _options.MaxSequenceLength, mean, scale, device);
        var loop = new MambaTrainingLoop(network, Task, _options, device, scorer.PadId, scorer.FillerId, new Random(seed), channel,
            () => _options.CancellationToken.IsCancellationRequested || MLNetInternalsBridge.IsCanceled(host));
        var history = loop.Run(train, validation);
        return new MambaTransformer(settings, network, tokenizerSource, device, history);
    }

    /// <summary>The input schema plus the prediction columns; throws naming a missing input column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        foreach (var name in _options.TextColumnNames.Concat(_options.ExtraColumnNames).Append(_options.LabelColumnName))
            if (!inputSchema.Any(c => c.Name == name))
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The input column '{name}' is not in the data.");
        var outputs = new MambaOutputColumns(Task, 1, null, _options.ScoreColumnName, _options.PredictedLabelColumnName);
        var added = MLNetInternalsBridge.CreateSchemaShape(outputs.MakeSchema(new DataViewSchema.Builder().ToSchema()));
        var addedNames = added.Select(c => c.Name).ToHashSet();
        return new SchemaShape(inputSchema.Where(c => !addedNames.Contains(c.Name)).Concat(added));
    }

    private MambaForSequenceClassification CreateNetwork(int outputs, Text.IMambaTokenizer tokenizer)
    {
        if (_options.PretrainedModelDirectory is { } directory)
        {
            var network = MambaForSequenceClassification.FromPretrained(directory, outputs, _options.Pooling);
            if (network.Config.VocabSize < tokenizer.VocabularySize)
                throw new InvalidOperationException($"The checkpoint in '{directory}' has {network.Config.VocabSize} embeddings but the tokenizer has {tokenizer.VocabularySize} tokens: choose the checkpoint's own tokenizer.");
            return network;
        }
        var config = _options.NetworkConfig is { } custom ? MambaModelPresets.WithTokenizer(custom, tokenizer) : MambaModelPresets.Create(_options.ModelSize, tokenizer);
        return new MambaForSequenceClassification(config, outputs, _options.Pooling);
    }

    private List<TokenizedExample> ReadExamples(IDataView data, RowTextReader reader, LabelInfo label, IMambaTokenizer tokenizer)
    {
        var columns = reader.Resolve(data.Schema).Append(data.Schema[label.ColumnName]);
        var examples = new List<TokenizedExample>();
        using var cursor = data.GetRowCursor(columns);
        var readText = reader.MakeFormatter(cursor);
        var readLabel = label.MakeReader(cursor);
        while (cursor.MoveNext())
        {
            float target = readLabel();
            if (float.IsNaN(target)) continue;
            var ids = tokenizer.Encode(readText());
            examples.Add(new TokenizedExample(ids.Take(_options.MaxSequenceLength).ToArray(), target));
        }
        return examples;
    }
}
