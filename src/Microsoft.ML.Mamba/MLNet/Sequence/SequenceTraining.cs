using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Training;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The sequence trainers' use of the shared <see cref="TrainingLoop"/>: length-bucketed batches shuffled each
/// epoch, the task object's loss, the validation loss after each epoch with early stopping and the best epoch's
/// weights kept, progress and the log through the ML.NET channel.
/// </summary>
internal sealed class SequenceTraining(MambaForSequenceClassification network, SequenceTask task, MambaTrainerOptions trainerOptions,
    torch.Device device, int padId, int fillerId)
{
    /// <summary>Trains the network; the validation loss after each epoch drives early stopping and the best epoch's weights are kept.</summary>
    public TrainingHistory Run(List<TokenizedExample> train, List<TokenizedExample>? validation, Random random, IChannel channel, Func<bool> isCanceled)
    {
        if (!network.parameters().Any(p => p.requires_grad))
            throw new InvalidOperationException("Every parameter is frozen: nothing to train (check FreezeEmbeddings and FrozenLayerCount).");
        var history = new TrainingHistory();
        int stepsPerEpoch = (train.Count + trainerOptions.BatchSize - 1) / trainerOptions.BatchSize;
        int totalSteps = stepsPerEpoch * trainerOptions.NumberOfEpochs;
        var staged = trainerOptions.GradualUnfreezing ? Stages() : [];
        var options = new TrainingLoopOptions
        {
            // The warm-up does not grow with the planned epochs, so early stopping keeps epochs trained at the same rates.
            Schedule = LearningRateSchedule.ForEpochs(trainerOptions.LearningRate, stepsPerEpoch, trainerOptions.NumberOfEpochs, trainerOptions.WarmupFraction, trainerOptions.Decay),
            LearningRateScale = trainerOptions.BackboneLearningRateFactor == 1 && trainerOptions.LayerLearningRateDecay == 1 ? null
                : ParameterGroups.DiscriminativeLearningRates(network.Config.NumHiddenLayers, trainerOptions.BackboneLearningRateFactor, trainerOptions.LayerLearningRateDecay),
            WeightDecay = trainerOptions.WeightDecay,
            MaxGradientNorm = trainerOptions.MaxGradientNorm,
            TotalSteps = totalSteps,
            MaxEpochs = trainerOptions.NumberOfEpochs,
            EarlyStoppingPatience = trainerOptions.EarlyStoppingPatience,
            RestoreBestWeights = true,
            CancellationToken = trainerOptions.CancellationToken,
            IsCanceled = isCanceled,
            Progress = trainerOptions.Progress,
            Log = line => channel.Info(MessageSensitivity.None, "Mamba " + line),
            LogEvery = trainerOptions.LogEveryNumberOfSteps,
            ExampleUnit = "rows",
            OnLoss = (_, loss) => history.StepLosses.Add(loss),
            OnEpochStart = trainerOptions.GradualUnfreezing ? UnfreezeFor : null,
        };
        var lengths = train.Select(e => e.Tokens.Length).ToArray();
        using var loop = new TrainingLoop(network, options);   // the optimiser holds every parameter that will train
        foreach (var (_, parameter) in staged) parameter.requires_grad = false;
        void UnfreezeFor(int epoch)
        {
            foreach (var (stage, parameter) in staged) if (stage < epoch) parameter.requires_grad = true;
        }
        var outcome = loop.Run(_ => LengthBucketBatcher.MakeBatches(lengths, trainerOptions.BatchSize, random), batch => BatchLoss(train, batch),
            validation is { Count: > 0 } ? () => new ValidationResult(MeanLoss(validation)) : null, batch => batch.Length);
        foreach (var (_, parameter) in staged) parameter.requires_grad = true;   // a run that ended early leaves none frozen
        history.EpochLosses.AddRange(outcome.EpochLosses);
        history.ValidationLosses.AddRange(outcome.Validations);
        history.BestEpoch = outcome.BestEpoch;
        history.StoppedEarly = outcome.StopReason == TrainingStopReason.EarlyStopping;
        history.Elapsed = outcome.Elapsed;
        return history;
    }

    // The backbone's trainable parameters with the epoch after which they thaw: the top layer after epoch 1, the next
    // after epoch 2, ..., the embeddings after the lowest layer. The head and the final norm train from the start.
    private List<(int Stage, TorchSharp.Modules.Parameter Parameter)> Stages()
    {
        int layers = network.Config.NumHiddenLayers;
        var stages = new List<(int, TorchSharp.Modules.Parameter)>();
        foreach (var (name, parameter) in network.named_parameters())
        {
            if (!parameter.requires_grad || !name.StartsWith("backbone.", StringComparison.Ordinal)) continue;
            var m = System.Text.RegularExpressions.Regex.Match(name, @"\.layers\.(\d+)\.");
            if (m.Success) stages.Add((layers - int.Parse(m.Groups[1].Value), parameter));
            else if (name.Contains("embeddings.", StringComparison.Ordinal)) stages.Add((layers + 1, parameter));
        }
        return stages;
    }

    // Mean loss over the examples, without gradients, in unshuffled length buckets.
    private double MeanLoss(List<TokenizedExample> examples)
    {
        network.eval();
        double sum = 0;
        using (torch.no_grad())
            foreach (var batch in LengthBucketBatcher.MakeBatches(examples.Select(e => e.Tokens.Length).ToArray(), trainerOptions.BatchSize, null))
                using (torch.NewDisposeScope())
                    sum += BatchLoss(examples, batch).item<float>() * batch.Length;
        return sum / examples.Count;
    }

    // The task's loss of one batch: padded with a mask, one forward pass.
    private torch.Tensor BatchLoss(IReadOnlyList<TokenizedExample> examples, int[] batch)
    {
        var (ids, mask) = PaddedBatch.Create(batch.Select(i => examples[i].Tokens).ToArray(), padId, fillerId, device);
        var output = network.forward(ids, mask);
        return task.Loss(output, batch.Select(i => examples[i].Target).ToArray(), device);
    }
}
