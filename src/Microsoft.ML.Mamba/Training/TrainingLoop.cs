using System.Diagnostics;
using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// The one training loop of the library, for any task: the caller brings the model, the batches and a loss
/// function; the loop owns AdamW (<see cref="FusedAdamW"/>, no weight decay on A_log, D, norms and biases, frozen
/// parameters left out), the learning-rate schedule, gradient clipping, the non-finite loss check, validation with
/// early stopping and best-weights restore, progress, the time limit and cancellation. Models train in their own
/// dtype (bf16 parameters on GPU train in bf16; there is no autocast). Training on the CPU sets glibc's allocator to
/// keep large buffers (<see cref="GlibcAllocator"/>), once per process.
/// </summary>
internal sealed class TrainingLoop : IDisposable
{
    private readonly nn.Module _model;
    private readonly TrainingLoopOptions _options;
    private readonly List<Parameter> _trainable;
    private readonly List<(Tensor Loss, int Examples)> _pending = [];
    private readonly Stopwatch _clock = new();
    private readonly double[] _groupScales;   // each optimiser group's multiplier of the scheduled rate
    private double _epochLossSum;
    private long _epochExamples;

    /// <summary>Builds the optimiser over <paramref name="model"/>'s trainable parameters.</summary>
    /// <exception cref="InvalidOperationException">Every parameter is frozen.</exception>
    public TrainingLoop(nn.Module model, TrainingLoopOptions options)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (trainable.Count == 0) throw new InvalidOperationException("Every parameter is frozen: nothing to train.");
        _trainable = trainable.Select(p => p.parameter).ToList();
        if (_trainable.Any(p => p.device_type == DeviceType.CPU)) GlibcAllocator.KeepLargeBuffers();   // CPU steps reuse their buffers
        var groups = Groups(trainable, options);
        _groupScales = groups.Select(g => options.Schedule.Peak > 0 ? g.Options.LearningRate!.Value / options.Schedule.Peak : 1.0).ToArray();
        Optimizer = new FusedAdamW(groups, options.Schedule.Peak, options.Beta1, options.Beta2);
        Schedule = options.Schedule;
        Step = options.StartStep;
    }

    /// <summary>The optimiser, for saving and loading its state (a checkpoint) before or after <see cref="Run"/>.</summary>
    public FusedAdamW Optimizer { get; }

    /// <summary>The schedule of the next steps; replace it to change the learning rate from the next step on.</summary>
    public LearningRateSchedule Schedule { get; set; }

    /// <summary>Optimisation steps done, counting <see cref="TrainingLoopOptions.StartStep"/>.</summary>
    public int Step { get; private set; }

    /// <summary>Time since <see cref="Run"/> began.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>
    /// AdamW's two groups: decayed weights, and A_log, D, norms and biases without decay (as in mamba_ssm). Without
    /// weight decay one group in the model's parameter order, so optimiser state lines up with named_parameters().
    /// With <see cref="TrainingLoopOptions.LearningRateScale"/> each of those splits further by multiplier, in order
    /// of first appearance; a group's peak rate is the schedule's peak times its multiplier.
    /// </summary>
    internal static List<AdamW.ParamGroup> Groups(IReadOnlyList<(string name, Parameter parameter)> trainable, TrainingLoopOptions options)
    {
        double lr = options.Schedule.Peak;
        var scale = options.LearningRateScale ?? (_ => 1.0);
        var groups = new List<AdamW.ParamGroup>();
        void Add(IEnumerable<(string name, Parameter parameter)> members, double weightDecay)
        {
            foreach (var byScale in members.GroupBy(p => scale(p.name)))
                groups.Add(new AdamW.ParamGroup(byScale.Select(p => p.parameter).ToList(),
                    new AdamW.Options { LearningRate = lr * byScale.Key, weight_decay = weightDecay }));
        }
        if (options.WeightDecay == 0)
            Add(trainable, 0);
        else
        {
            Add(trainable.Where(p => !ParameterGroups.IsExcludedFromWeightDecay(p.name)), options.WeightDecay);
            Add(trainable.Where(p => ParameterGroups.IsExcludedFromWeightDecay(p.name)), 0);
        }
        return groups;
    }

    /// <summary>
    /// Trains until <see cref="TrainingLoopOptions.TotalSteps"/>, the epochs, the time limit, early stopping or the
    /// validation function ends it. Puts the model in training mode, and in evaluation mode when done.
    /// </summary>
    /// <param name="epochBatches">The batches of the one-based epoch; asked for each epoch only when steps remain.
    /// An endless source (fresh random batches) is one endless epoch. Each batch is taken inside the step's dispose
    /// scope, so tensors it makes are freed with the step.</param>
    /// <param name="loss">The batch's scalar loss, with the graph to the trainable parameters.</param>
    /// <param name="validate">Validation (no gradients needed; the model is put back in training mode after it), or null.</param>
    /// <param name="examplesIn">How many examples a batch holds, for the mean epoch loss and throughput; null = 1.</param>
    /// <exception cref="NonFiniteLossException">A loss was NaN or infinite.</exception>
    /// <exception cref="OperationCanceledException">Cancellation was requested.</exception>
    public TrainingOutcome Run<TBatch>(Func<int, IEnumerable<TBatch>> epochBatches, Func<TBatch, Tensor> loss,
        Func<ValidationResult>? validate = null, Func<TBatch, int>? examplesIn = null)
    {
        ArgumentNullException.ThrowIfNull(epochBatches);
        ArgumentNullException.ThrowIfNull(loss);
        var o = _options;
        var epochLosses = new List<double>();
        var validations = new List<double>();
        var stop = TrainingStopReason.AllSteps;
        double best = o.HigherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
        int bestEpoch = 0, withoutImprovement = 0, epoch = 0;
        int? bestStep = null;
        long examplesSeen = 0;
        Dictionary<string, Tensor>? bestWeights = null;
        _clock.Restart();

        // Validates after `Step`; true when training should end.
        void Validate()
        {
            var result = validate!();
            _model.train();
            validations.Add(result.Metric);
            if (o.HigherIsBetter ? result.Metric > best : result.Metric < best)
            {
                best = result.Metric; bestEpoch = epoch; bestStep = Step; withoutImprovement = 0;
                if (o.RestoreBestWeights) { DisposeAll(bestWeights); bestWeights = CopyWeights(); }
            }
            else
            {
                withoutImprovement++;
                if (o.EarlyStoppingPatience > 0 && withoutImprovement >= o.EarlyStoppingPatience && Step < o.TotalSteps)
                {
                    stop = TrainingStopReason.EarlyStopping;
                    o.Log?.Invoke($"early stopping after epoch {epoch}, step {Step}: no better validation for {withoutImprovement} checks.");
                }
            }
            if (result.Stop) stop = TrainingStopReason.ValidationRequest;
        }

        try
        {
            while (stop == TrainingStopReason.AllSteps && Step < o.TotalSteps && (o.MaxEpochs is null || epoch < o.MaxEpochs))
            {
                epoch++;
                o.OnEpochStart?.Invoke(epoch);
                _model.train();
                _epochLossSum = 0; _epochExamples = 0;
                using var batches = epochBatches(epoch).GetEnumerator();
                while (Step < o.TotalSteps)
                {
                    if (o.CancellationToken.IsCancellationRequested || o.IsCanceled?.Invoke() == true)
                        throw new OperationCanceledException("Training was cancelled.", o.CancellationToken);
                    double lr = Schedule.At(Step, o.TimeLimit is { } limit ? _clock.Elapsed / limit : 0);
                    int g = 0;
                    foreach (var group in Optimizer.ParamGroups) group.LearningRate = lr * _groupScales[g++];
                    using (NewDisposeScope())
                    {
                        if (!batches.MoveNext()) break;
                        var batch = batches.Current;
                        Optimizer.zero_grad();
                        var lossTensor = loss(batch);
                        lossTensor.backward();
                        if (o.MaxGradientNorm > 0) nn.utils.clip_grad_norm_(_trainable, o.MaxGradientNorm);
                        Optimizer.step();
                        int examples = examplesIn?.Invoke(batch) ?? 1;
                        _pending.Add((lossTensor.detach().DetachFromDisposeScope(), examples));
                        examplesSeen += examples;
                    }
                    Step++;
                    bool read = _pending.Count >= o.LossReadEvery;
                    if (read) ReadLosses();

                    double perSecond = examplesSeen / Math.Max(1e-6, _clock.Elapsed.TotalSeconds);
                    var remaining = TimeSpan.FromSeconds((o.TotalSteps - Step) * _clock.Elapsed.TotalSeconds / (Step - o.StartStep));
                    if (read && o.Progress is not null)
                        o.Progress.Report(new MambaTrainingProgress(epoch, o.MaxEpochs ?? 0, Step, o.TotalSteps, EpochLoss, perSecond, remaining, null, false));
                    if (o.Log is not null && o.LogEvery > 0 && Step % o.LogEvery == 0)
                        o.Log($"epoch {epoch}/{Epochs} step {Step}/{o.TotalSteps} loss {EpochLoss:F4} lr {lr:G3} {perSecond:F1} {o.ExampleUnit}/s ETA {remaining:hh\\:mm\\:ss}");

                    int validationsBefore = validations.Count;
                    if (validate is not null && o.ValidateEvery > 0 && Step % o.ValidateEvery == 0) Validate();
                    if (stop == TrainingStopReason.AllSteps && Step < o.TotalSteps && o.TimeLimit is { } timeLimit && _clock.Elapsed >= timeLimit)
                        stop = TrainingStopReason.TimeLimit;
                    bool last = Step == o.TotalSteps || stop != TrainingStopReason.AllSteps;
                    if (last) ReadLosses();
                    o.OnStep?.Invoke(new TrainingStep(Step, epoch, lr, validations.Count > validationsBefore ? validations[^1] : null, last));
                    if (stop != TrainingStopReason.AllSteps) break;
                }
                if (stop != TrainingStopReason.AllSteps) break;

                // End of the epoch: its mean loss, the per-epoch validation, the epoch's report.
                ReadLosses();
                double epochLoss = EpochLoss;
                epochLosses.Add(epochLoss);
                double? validation = null;
                if (validate is not null && o.ValidateEvery == 0)
                {
                    Validate();
                    validation = validations[^1];
                }
                o.Log?.Invoke($"epoch {epoch}/{Epochs} done: train loss {epochLoss:F4}" +
                    (validation is null ? "" : $", validation {validation:F4}") + $", {_clock.Elapsed:hh\\:mm\\:ss} elapsed");
                o.Progress?.Report(new MambaTrainingProgress(epoch, o.MaxEpochs ?? 0, Step, o.TotalSteps, epochLoss,
                    examplesSeen / Math.Max(1e-6, _clock.Elapsed.TotalSeconds), TimeSpan.Zero, validation, true));
            }

            if (validations.Count == 0) bestEpoch = epoch;
            if (bestWeights is not null)
            {
                // Put back the weights of the best validation.
                using (no_grad())
                    foreach (var (name, p) in _model.named_parameters()) p.copy_(bestWeights[name]);
            }
        }
        finally
        {
            foreach (var (t, _) in _pending) t.Dispose();
            _pending.Clear();
            DisposeAll(bestWeights);
        }
        _model.eval();
        _clock.Stop();
        return new TrainingOutcome(Step, epoch, stop, epochLosses, validations, bestEpoch, bestStep, _clock.Elapsed);
    }

    private string Epochs => _options.MaxEpochs?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?";

    private double EpochLoss => _epochLossSum / Math.Max(1, _epochExamples);

    /// <summary>
    /// Reads the losses not yet read back in one transfer, checks them and hands them to
    /// <see cref="TrainingLoopOptions.OnLoss"/>. Callers that log or checkpoint between reads call it first.
    /// </summary>
    /// <exception cref="NonFiniteLossException">One of them is NaN or infinite.</exception>
    public void ReadLosses()
    {
        if (_pending.Count == 0) return;
        float[] values;
        using (var all = stack(_pending.Select(p => p.Loss)).cpu()) values = all.data<float>().ToArray();
        var examples = _pending.Select(p => p.Examples).ToArray();
        int first = Step - _pending.Count + 1;
        foreach (var (t, _) in _pending) t.Dispose();
        _pending.Clear();
        for (int i = 0; i < values.Length; i++)
        {
            double value = values[i];
            if (!double.IsFinite(value)) throw new NonFiniteLossException(first + i, value);
            _epochLossSum += value * examples[i]; _epochExamples += examples[i];
            _options.OnLoss?.Invoke(first + i, value);
        }
    }

    private Dictionary<string, Tensor> CopyWeights()
    {
        using var _ = no_grad();
        return _model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().DetachFromDisposeScope());
    }

    private static void DisposeAll(Dictionary<string, Tensor>? weights)
    {
        if (weights is null) return;
        foreach (var t in weights.Values) t.Dispose();
    }

    /// <summary>Frees the optimiser's state.</summary>
    public void Dispose() => Optimizer.Dispose();
}
