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

        var tokenizerSource = MambaTokenizerSource.FromOptions(_options.Tokenizer, _options.TokenizerPath ?? _options.PretrainedModelDirectory);
        var tokenizer = tokenizerSource.Create();
        var train = ReadExamples(input, reader, label, tokenizer);
        if (train.Count == 0)
            throw new InvalidOperationException($"The training set has no rows with a label in '{_options.LabelColumnName}': there is nothing to train on.");
        var validation = validationLabel is null ? null : ReadExamples(_options.ValidationSet!, reader, validationLabel, tokenizer);

        var scaling = _task.FitTargetScaling(train.Select(e => e.Target).ToArray());
        if (scaling != TargetScaling.Identity)
        {
            train = train.Select(e => e with { Target = scaling.Apply(e.Target) }).ToList();
            validation = validation?.Select(e => e with { Target = scaling.Apply(e.Target) }).ToList();
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
            TargetMean = scaling.Mean,
            TargetScale = scaling.Scale,
            Tokenizer = tokenizerSource.Kind,
        };
        var scorer = new MambaNetworkScorer(network, tokenizer, _task, _options.MaxSequenceLength, scaling, device);
        var history = Train(network, train, validation, device, scorer.PadId, scorer.FillerId, new Random(seed), channel,
            () => MLNetInternalsBridge.IsCanceled(host));
        return new MambaTransformer(settings, network, tokenizerSource, device, history);
    }

    // Length-bucketed shuffled batches each epoch, the task's loss, validation loss after each epoch with early
    // stopping and the best epoch's weights kept: the classifier's use of the shared training loop.
    private TrainingHistory Train(MambaForSequenceClassification network, List<TokenizedExample> train, List<TokenizedExample>? validation,
        torch.Device device, int padId, int fillerId, Random random, IChannel channel, Func<bool> isCanceled)
    {
        if (!network.parameters().Any(p => p.requires_grad))
            throw new InvalidOperationException("Every parameter is frozen: nothing to train (check FreezeEmbeddings and FrozenLayerCount).");
        var history = new TrainingHistory();
        int stepsPerEpoch = (train.Count + _options.BatchSize - 1) / _options.BatchSize;
        int totalSteps = stepsPerEpoch * _options.NumberOfEpochs;
        var options = new TrainingLoopOptions
        {
            Schedule = new LearningRateSchedule(_options.LearningRate, totalSteps, _options.WarmupFraction, _options.Decay),
            WeightDecay = _options.WeightDecay,
            MaxGradientNorm = _options.MaxGradientNorm,
            TotalSteps = totalSteps,
            MaxEpochs = _options.NumberOfEpochs,
            EarlyStoppingPatience = _options.EarlyStoppingPatience,
            RestoreBestWeights = true,
            CancellationToken = _options.CancellationToken,
            IsCanceled = isCanceled,
            Progress = _options.Progress,
            Log = line => channel.Info(MessageSensitivity.None, "Mamba " + line),
            LogEvery = _options.LogEveryNumberOfSteps,
            ExampleUnit = "rows",
            OnLoss = (_, loss) => history.StepLosses.Add(loss),
        };
        var lengths = train.Select(e => e.Tokens.Length).ToArray();
        torch.Tensor Loss(IReadOnlyList<TokenizedExample> examples, int[] batch) => BatchLoss(network, examples, batch, padId, fillerId, device);
        using var loop = new TrainingLoop(network, options);
        var outcome = loop.Run(_ => LengthBucketBatcher.MakeBatches(lengths, _options.BatchSize, random), batch => Loss(train, batch),
            validation is { Count: > 0 } ? () => new ValidationResult(MeanLoss(network, validation, Loss)) : null, batch => batch.Length);
        history.EpochLosses.AddRange(outcome.EpochLosses);
        history.ValidationLosses.AddRange(outcome.Validations);
        history.BestEpoch = outcome.BestEpoch;
        history.StoppedEarly = outcome.StopReason == TrainingStopReason.EarlyStopping;
        history.Elapsed = outcome.Elapsed;
        return history;
    }

    // Mean loss over the examples, without gradients, in unshuffled length buckets.
    private double MeanLoss(MambaForSequenceClassification network, List<TokenizedExample> examples, Func<IReadOnlyList<TokenizedExample>, int[], torch.Tensor> loss)
    {
        network.eval();
        double sum = 0;
        using (torch.no_grad())
            foreach (var batch in LengthBucketBatcher.MakeBatches(examples.Select(e => e.Tokens.Length).ToArray(), _options.BatchSize, null))
                using (torch.NewDisposeScope())
                    sum += loss(examples, batch).item<float>() * batch.Length;
        return sum / examples.Count;
    }

    private torch.Tensor BatchLoss(MambaForSequenceClassification network, IReadOnlyList<TokenizedExample> examples, int[] batch,
        int padId, int fillerId, torch.Device device)
    {
        var (ids, mask) = PaddedBatch.Create(batch.Select(i => examples[i].Tokens).ToArray(), padId, fillerId, device);
        var output = network.forward(ids, mask);
        return _task.Loss(output, batch.Select(i => examples[i].Target).ToArray(), device);
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
