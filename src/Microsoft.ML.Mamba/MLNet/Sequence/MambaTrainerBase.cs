using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using Microsoft.ML.Mamba.Training;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Shared training logic of the Mamba estimators: reads the rows as text, tokenizes, builds or loads the
/// network, trains it and returns a <see cref="MambaTransformer"/>. What differs between tasks (label,
/// targets, loss, output columns) is the task object's; the subclasses only name their task.
/// </summary>
public abstract class MambaTrainerBase : IEstimator<MambaTransformer>
{
    private readonly IHostEnvironment _environment;
    private readonly MambaTrainerOptions _options;
    private readonly SequenceTask _task;

    private protected MambaTrainerBase(IHostEnvironment environment, MambaTrainerOptions options, SequenceTask task)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _environment = environment;
        _options = options.Clone();
        _task = task;
        MambaModelLoader.Register(environment.ComponentCatalog); // so this MLContext can load what it saves
    }

    /// <summary>The task this estimator trains for.</summary>
    public MambaTask Task => _task.Kind;

    /// <summary>A copy of the settings this estimator trains with.</summary>
    public MambaTrainerOptions Options => _options.Clone();

    /// <summary>Trains on <paramref name="input"/>; rows with a missing label (key 0 or NaN) are skipped.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type (the message names it).</exception>
    /// <exception cref="ArgumentException">The validation set lacks a column or was keyed separately from the training set (the message says how to transform it).</exception>
    /// <exception cref="InvalidOperationException">No labelled rows to train on.</exception>
    /// <exception cref="OperationCanceledException"><c>MLContext.CancelExecution()</c> was called.</exception>
    public MambaTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var host = _environment.Register("Mamba");
        int seed = _options.Seed ?? host.Rand.Next();
        var label = LabelInfo.Read(input.Schema, _options.LabelColumnName, _task);
        var reader = new RowTextReader(_options.TextColumnNames, _options.ExtraColumnNames);
        reader.Resolve(input.Schema);
        var validationLabel = _options.ValidationSet is { } validationSet ? CheckValidationSet(validationSet.Schema, reader, label) : null;

        string? checkpoint = _options.PretrainedModelDirectory is { } named ? MambaPretrainedModels.Resolve(named) : null;
        var tokenizerKind = _options.Tokenizer ?? MambaPretrainedModels.TokenizerOf(checkpoint);
        var tokenizerSource = MambaTokenizerSource.FromOptions(tokenizerKind, _options.TokenizerPath ?? checkpoint);
        var tokenizer = tokenizerSource.Create();
        var adaptation = _options.DomainAdaptivePretraining;
        var trainTexts = adaptation is { IncludeTrainingRows: true } ? new List<string>() : null;
        var lengths = new List<int>();
        var train = ReadExamples(input, reader, label, tokenizer, trainTexts, lengths);
        if (train.Count == 0)
            throw new InvalidOperationException($"The training set has no rows with a label in '{_options.LabelColumnName}': there is nothing to train on.");
        var validation = validationLabel is null ? null : ReadExamples(_options.ValidationSet!, reader, validationLabel, tokenizer);
        if (validation is null && _options.ValidationFraction > 0 && train.Count >= 2)
            (train, validation) = HoldOut(train, _options.ValidationFraction, seed);

        var scaling = _task.FitTargetScaling(train.Select(e => e.Target).ToArray());
        if (scaling != TargetScaling.Identity)
        {
            train = train.Select(e => e with { Target = scaling.Apply(e.Target) }).ToList();
            validation = validation?.Select(e => e with { Target = scaling.Apply(e.Target) }).ToList();
        }

        var device = MambaDevice.ForTraining(MLNetInternalsBridge.GetGpuSettings(_environment));
        var network = TorchGlobalRandom.Seeded(seed, () => CreateNetwork(label.NumberOfOutputs, tokenizer, checkpoint));
        network.to(device);
        network.HeadDropout = _options.HeadDropout;
        using var channel = host.Start("Mamba training");
        WarnIfRowsAreCut(channel, lengths);
        if (adaptation is not null) Adapt(network, adaptation, trainTexts, tokenizer, checkpoint, seed, device, channel);
        int frozen = ParameterGroups.Freeze(network.named_parameters(), _options.FreezeEmbeddings, _options.FrozenLayerCount);

        channel.Info(MessageSensitivity.None, $"Mamba {Task}: {train.Count} training rows" + (validation is null ? "" : $", {validation.Count} validation rows" + (_options.ValidationSet is null ? " (held out of the training rows)" : "")) +
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
            TargetMean = scaling.Mean,
            TargetScale = scaling.Scale,
            Tokenizer = tokenizerSource.Kind,
        };
        var scorer = new MambaNetworkScorer(network, tokenizer, _task, _options.MaxSequenceLength, scaling, device);
        var history = new SequenceTraining(network, _task, _options, device, scorer.PadId, scorer.FillerId)
            .Run(train, validation, new Random(seed), channel, () => MLNetInternalsBridge.IsCanceled(host));
        if (_options.CalibrateProbabilities && validation is { Count: > 0 } && _task.Kind != MambaTask.Regression)
        {
            var logits = scorer.Logits(validation.Select(e => e.Tokens).ToArray(), _options.BatchSize);
            var targets = validation.Select(e => e.Target).ToArray();
            double t = TemperatureScaling.Fit(logits, targets);
            settings.Temperature = (float)t;
            channel.Info(MessageSensitivity.None, $"Mamba {Task}: temperature {t:G4} fitted on {validation.Count} validation rows " +
                $"(validation NLL {TemperatureScaling.Loss(logits, targets, 1):F4} -> {TemperatureScaling.Loss(logits, targets, t):F4} nats).");
        }
        return new MambaTransformer(settings, network, tokenizerSource, device, history);
    }

    // ValidationFraction: a seeded random share of the rows (at least one, never all) becomes the validation set; the
    // rest keep their order.
    internal static (List<TokenizedExample> Train, List<TokenizedExample> Validation) HoldOut(List<TokenizedExample> rows, double fraction, int seed)
    {
        int count = Math.Clamp((int)Math.Round(rows.Count * fraction), 1, rows.Count - 1);
        var order = Enumerable.Range(0, rows.Count).ToArray();
        new Random(seed).Shuffle(order);
        var held = order.Take(count).ToHashSet();
        return (rows.Where((_, i) => !held.Contains(i)).ToList(), order.Take(count).Order().Select(i => rows[i]).ToList());
    }

    /// <summary>The input schema plus the prediction columns; throws naming a missing input column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        foreach (var name in _options.TextColumnNames.Concat(_options.ExtraColumnNames).Append(_options.LabelColumnName))
            if (!inputSchema.Any(c => c.Name == name))
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The input column '{name}' is not in the data.");
        var label = _task.DescribeLabelShape(inputSchema.Last(c => c.Name == _options.LabelColumnName));
        var outputs = new MambaOutputColumns(_task, label.NumberOfOutputs, label.ClassNames, _options.ScoreColumnName, _options.PredictedLabelColumnName);
        var added = MLNetInternalsBridge.CreateSchemaShape(outputs.MakeSchema(new DataViewSchema.Builder().ToSchema()));
        var addedNames = added.Select(c => c.Name).ToHashSet();
        return new SchemaShape(inputSchema.Where(c => !addedNames.Contains(c.Name)).Concat(added));
    }

    // A validation set must go through the same fitted transforms as the training set: one never transformed
    // has no label column, and one keyed by its own MapValueToKey numbers the classes differently, so its
    // loss (and early stopping) would silently use the wrong labels.
    private LabelInfo CheckValidationSet(DataViewSchema schema, RowTextReader reader, LabelInfo training)
    {
        const string what = "The validation set (MambaTrainerOptions.ValidationSet)";
        const string fix = "Fit the pipeline's steps before the Mamba trainer on the training data and pass their Transform of the validation data: options.ValidationSet = prefix.Transform(validationData).";
        try { reader.Resolve(schema); }
        catch (ArgumentOutOfRangeException e) { throw new ArgumentException($"{what}: {e.Message} {fix}", nameof(MambaTrainerOptions.ValidationSet), e); }
        string name = _options.LabelColumnName;
        var found = schema.GetColumnOrNull(name);
        if (found is null || found.Value.IsHidden)
            throw new ArgumentException($"{what} has no label column '{name}': it was not transformed like the training set. {fix}", nameof(MambaTrainerOptions.ValidationSet));
        LabelInfo validation;
        try { validation = _task.DescribeLabel(found.Value); }
        catch (ArgumentOutOfRangeException e) { throw new ArgumentException($"{what}: {e.Message} {fix}", nameof(MambaTrainerOptions.ValidationSet), e); }
        if (!training.SameClassesAs(validation))
            throw new ArgumentException($"{what} numbers the classes of label column '{name}' differently from the training set ({Classes(validation)} instead of {Classes(training)}): " +
                $"it was keyed separately, by its own MapValueToKey. {fix}", nameof(MambaTrainerOptions.ValidationSet));
        return validation;
    }

    private static string Classes(LabelInfo label) =>
        label.ClassNames is { } names ? $"[{string.Join(", ", names)}]" : $"{label.NumberOfOutputs} classes";

    private MambaForSequenceClassification CreateNetwork(int outputs, Text.IMambaTokenizer tokenizer, string? checkpoint)
    {
        if (checkpoint is { } directory)
        {
            var network = MambaForSequenceClassification.FromPretrained(directory, outputs, _options.Pooling);
            if (network.Config.VocabSize < tokenizer.VocabularySize)
                throw new InvalidOperationException($"The checkpoint in '{directory}' has {network.Config.VocabSize} embeddings but the tokenizer has {tokenizer.VocabularySize} tokens: choose the checkpoint's own tokenizer.");
            return network;
        }
        var config = _options.NetworkConfig is { } custom ? MambaModelPresets.WithTokenizer(custom, tokenizer) : MambaModelPresets.Create(_options.ModelSize, tokenizer, _options.Architecture);
        return new MambaForSequenceClassification(config, outputs, _options.Pooling);
    }

    // Domain-adaptive pretraining: the backbone learns the next token of the rows' text (as the classifier reads it)
    // and of the unlabeled text, through the library's Pretrainer, before the head sees a label.
    private void Adapt(MambaForSequenceClassification network, DomainAdaptivePretrainingOptions adaptation, List<string>? trainTexts,
        IMambaTokenizer tokenizer, string? checkpoint, int seed, torch.Device device, IChannel channel)
    {
        var texts = (trainTexts ?? []).Concat(adaptation.UnlabeledTexts ?? []);
        var progress = new ChannelProgress(p => channel.Info(MessageSensitivity.None,
            $"Mamba domain-adaptive pretraining: step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:G3} {p.TokensPerSecond:F0} tokens/s"));
        var result = DomainAdaptivePretrainer.Run(network.backbone, network.Config, checkpoint, texts, tokenizer, adaptation,
            seed, device, _options.CancellationToken, progress);
        channel.Info(MessageSensitivity.None, result is null
            ? "Mamba domain-adaptive pretraining skipped: the texts hold fewer than two tokens."
            : $"Mamba domain-adaptive pretraining: {result.Steps} steps, {result.Tokens} tokens, final loss {result.FinalTrainLoss:F4}, {result.Elapsed.TotalSeconds:F1}s.");
    }

    private sealed class ChannelProgress(Action<PretrainingProgress> report) : IProgress<PretrainingProgress>
    {
        public void Report(PretrainingProgress value) => report(value);
    }

    // Rows keep their first MaxSequenceLength tokens. When many are cut, whatever comes last in a row (the body after a
    // subject and extra columns, say) may never reach the network: say so, with the numbers to choose a better length.
    private void WarnIfRowsAreCut(IChannel channel, List<int> lengths)
    {
        int limit = _options.MaxSequenceLength, cut = lengths.Count(n => n > limit);
        if (lengths.Count == 0 || cut < lengths.Count / 4.0) return;
        var sorted = lengths.Order().ToArray();
        channel.Warning(MessageSensitivity.None, $"Mamba {Task}: {cut} of {lengths.Count} training rows ({(double)cut / lengths.Count:P0}) are longer than " +
            $"MaxSequenceLength ({limit} tokens) and lose their ends (rows are {sorted[sorted.Length / 2]} tokens at the median, " +
            $"{sorted[(int)(0.9 * (sorted.Length - 1))]} at the 90th percentile). Raise MaxSequenceLength, or put the columns that matter first.");
    }

    private List<TokenizedExample> ReadExamples(IDataView data, RowTextReader reader, LabelInfo label, IMambaTokenizer tokenizer,
        List<string>? texts = null, List<int>? lengths = null)
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
            string text = readText();
            texts?.Add(text);
            var ids = tokenizer.Encode(text);
            lengths?.Add(ids.Count);
            examples.Add(new TokenizedExample(ids.Take(_options.MaxSequenceLength).ToArray(), target));
        }
        return examples;
    }
}
