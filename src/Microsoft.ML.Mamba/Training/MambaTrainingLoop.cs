using System.Diagnostics;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// Fine-tunes or trains a sequence model on tokenized examples: length-bucketed shuffled batches, AdamW with
/// warm-up and decay, gradient clipping, per-epoch validation with early stopping and best-weights restore,
/// cancellation checked before every batch, progress to the ML.NET channel and an optional callback.
/// </summary>
internal sealed class MambaTrainingLoop
{
    private readonly nn.Module<Tensor, Tensor?, Tensor> _model;
    private readonly MambaTask _task;
    private readonly MambaTrainerOptions _options;
    private readonly Device _device;
    private readonly int _padId, _fillerId;
    private readonly Random _random;
    private readonly IChannel _channel;
    private readonly Func<bool> _isCanceled;

    public MambaTrainingLoop(nn.Module<Tensor, Tensor?, Tensor> model, MambaTask task, MambaTrainerOptions options, Device device,
        int padId, int fillerId, Random random, IChannel channel, Func<bool> isCanceled)
    {
        _model = model; _task = task; _options = options; _device = device; _padId = padId; _fillerId = fillerId;
        _random = random; _channel = channel; _isCanceled = isCanceled;
    }

    public TrainingHistory Run(IReadOnlyList<TokenizedExample> train, IReadOnlyList<TokenizedExample>? validation)
    {
        var history = new TrainingHistory();
        var clock = Stopwatch.StartNew();
        var named = _model.named_parameters().ToList();
        var trainable = named.Where(p => p.parameter.requires_grad).ToList();
        var decayed = trainable.Where(p => !ParameterGroups.IsExcludedFromWeightDecay(p.name)).Select(p => p.parameter).ToList();
        var notDecayed = trainable.Where(p => ParameterGroups.IsExcludedFromWeightDecay(p.name)).Select(p => p.parameter).ToList();
        var groups = new List<AdamW.ParamGroup>();
        if (decayed.Count > 0) groups.Add(new AdamW.ParamGroup(decayed, new AdamW.Options { LearningRate = _options.LearningRate, weight_decay = _options.WeightDecay }));
        if (notDecayed.Count > 0) groups.Add(new AdamW.ParamGroup(notDecayed, new AdamW.Options { LearningRate = _options.LearningRate, weight_decay = 0 }));
        if (groups.Count == 0) throw new InvalidOperationException("Every parameter is frozen: nothing to train (check FreezeEmbeddings and FrozenLayerCount).");
        using var optimizer = new FusedAdamW(groups, _options.LearningRate);  // TorchSharp's AdamW with a one-call native step

        var lengths = train.Select(e => e.Tokens.Length).ToArray();
        int stepsPerEpoch = (train.Count + _options.BatchSize - 1) / _options.BatchSize;
        var schedule = new LearningRateSchedule(_options.LearningRate, stepsPerEpoch * _options.NumberOfEpochs, _options.WarmupFraction, _options.Decay);
        var trainableParameters = trainable.Select(p => p.parameter).ToList();

        double bestValidation = double.PositiveInfinity;
        Dictionary<string, Tensor>? bestWeights = null;
        int epochsWithoutImprovement = 0, step = 0;
        long examplesSeen = 0;

        for (int epoch = 1; epoch <= _options.NumberOfEpochs; epoch++)
        {
            _model.train();
            double lossSum = 0; int lossCount = 0;
            foreach (var batch in LengthBucketBatcher.MakeBatches(lengths, _options.BatchSize, _random))
            {
                if (_isCanceled()) throw new OperationCanceledException("Mamba training was cancelled.", _options.CancellationToken);
                double lr = schedule.At(step);
                foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;

                double loss;
                using (var scope = torch.NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var lossTensor = BatchLoss(train, batch);
                    lossTensor.backward();
                    if (_options.MaxGradientNorm > 0) nn.utils.clip_grad_norm_(trainableParameters, _options.MaxGradientNorm);
                    optimizer.step();
                    loss = lossTensor.item<float>();
                }
                if (!double.IsFinite(loss)) throw new InvalidOperationException($"The training loss became {loss} at step {step + 1}; lower LearningRate.");
                step++; examplesSeen += batch.Length;
                lossSum += loss * batch.Length; lossCount += batch.Length;
                history.StepLosses.Add(loss);

                double perSecond = examplesSeen / Math.Max(1e-6, clock.Elapsed.TotalSeconds);
                var remaining = TimeSpan.FromSeconds((schedule.TotalSteps - step) * clock.Elapsed.TotalSeconds / step);
                var progress = new MambaTrainingProgress(epoch, _options.NumberOfEpochs, step, schedule.TotalSteps, lossSum / lossCount, perSecond, remaining, null, false);
                _options.Progress?.Report(progress);
                if (_options.LogEveryNumberOfSteps > 0 && step % _options.LogEveryNumberOfSteps == 0)
                    _channel.Info(MessageSensitivity.None, $"Mamba epoch {epoch}/{_options.NumberOfEpochs} step {step}/{schedule.TotalSteps} loss {lossSum / lossCount:F4} lr {lr:G3} {perSecond:F1} rows/s ETA {remaining:hh\\:mm\\:ss}");
            }

            double epochLoss = lossSum / Math.Max(1, lossCount);
            history.EpochLosses.Add(epochLoss);
            double? validationLoss = null;
            if (validation is { Count: > 0 })
            {
                validationLoss = Evaluate(validation);
                history.ValidationLosses.Add(validationLoss.Value);
            }
            _channel.Info(MessageSensitivity.None, $"Mamba epoch {epoch}/{_options.NumberOfEpochs} done: train loss {epochLoss:F4}" +
                (validationLoss is null ? "" : $", validation loss {validationLoss:F4}") + $", {clock.Elapsed:hh\\:mm\\:ss} elapsed");
            _options.Progress?.Report(new MambaTrainingProgress(epoch, _options.NumberOfEpochs, step, schedule.TotalSteps, epochLoss,
                examplesSeen / Math.Max(1e-6, clock.Elapsed.TotalSeconds), TimeSpan.Zero, validationLoss, true));

            history.BestEpoch = epoch;
            if (validationLoss is null) continue;
            if (validationLoss.Value < bestValidation)
            {
                bestValidation = validationLoss.Value;
                DisposeAll(bestWeights);
                bestWeights = CopyWeights();
                epochsWithoutImprovement = 0;
            }
            else
            {
                history.BestEpoch = epoch - 1 - epochsWithoutImprovement;
                epochsWithoutImprovement++;
                if (_options.EarlyStoppingPatience > 0 && epochsWithoutImprovement >= _options.EarlyStoppingPatience && epoch < _options.NumberOfEpochs)
                {
                    history.StoppedEarly = true;
                    _channel.Info(MessageSensitivity.None, $"Mamba early stopping after epoch {epoch}: no better validation loss for {epochsWithoutImprovement} epochs.");
                    break;
                }
            }
        }

        if (bestWeights is not null)
        {
            // Restore the epoch with the best validation loss.
            using (torch.no_grad())
                foreach (var (name, p) in _model.named_parameters()) p.copy_(bestWeights[name]);
            DisposeAll(bestWeights);
        }
        _model.eval();
        history.Elapsed = clock.Elapsed;
        return history;
    }

    /// <summary>Mean loss over <paramref name="examples"/>, without gradients.</summary>
    public double Evaluate(IReadOnlyList<TokenizedExample> examples)
    {
        _model.eval();
        double sum = 0;
        using (torch.no_grad())
            foreach (var batch in LengthBucketBatcher.MakeBatches(examples.Select(e => e.Tokens.Length).ToArray(), _options.BatchSize, null))
                using (torch.NewDisposeScope())
                    sum += BatchLoss(examples, batch).item<float>() * batch.Length;
        _model.train();
        return sum / examples.Count;
    }

    private Tensor BatchLoss(IReadOnlyList<TokenizedExample> examples, int[] batch)
    {
        var (ids, mask) = PaddedBatch.Create(batch.Select(i => examples[i].Tokens).ToArray(), _padId, _fillerId, _device);
        var output = _model.forward(ids, mask);
        var targets = batch.Select(i => examples[i].Target).ToArray();
        return _task switch
        {
            MambaTask.MulticlassClassification => nn.functional.cross_entropy(output, torch.tensor(targets.Select(t => (long)t).ToArray()).to(_device)),
            MambaTask.BinaryClassification => nn.functional.binary_cross_entropy_with_logits(output.squeeze(-1), torch.tensor(targets).to(_device)),
            _ => nn.functional.mse_loss(output.squeeze(-1), torch.tensor(targets).to(_device)),
        };
    }

    private Dictionary<string, Tensor> CopyWeights()
    {
        using var _ = torch.no_grad();
        return _model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().DetachFromDisposeScope());
    }

    private static void DisposeAll(Dictionary<string, Tensor>? weights)
    {
        if (weights is null) return;
        foreach (var t in weights.Values) t.Dispose();
    }
}
