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
        var targets = batch.Select(i => examples[i].Target).ToArray();
        return Task switch
        {
            MambaTask.MulticlassClassification => torch.nn.functional.cross_entropy(output, torch.tensor(targets.Select(t => (long)t).ToArray()).to(device)),
            MambaTask.BinaryClassification => torch.nn.functional.binary_cross_entropy_with_logits(output.squeeze(-1), torch.tensor(targets).to(device)),
            _ => torch.nn.functional.mse_loss(output.squeeze(-1), torch.tensor(targets).to(device)),
        };
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
