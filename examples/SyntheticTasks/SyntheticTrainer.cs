using System.Diagnostics;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// The training and evaluation loop shared by every synthetic task: fresh random batches each step (there is no
/// fixed training set to overfit), Adam at a constant learning rate, cross-entropy on the scored positions only (or, with
/// <see cref="TrainingOptions.LossOnEveryToken"/>, on every next token). The steps are the library's training loop
/// (<see cref="FusedAdamW"/> without weight decay); losses are read back every <see cref="LossReadEvery"/> steps rather
/// than every step, so the host can run ahead of the GPU. Checkpoints, state passing, the validation target, the
/// one-time learning-rate step down and the logs are this harness's own, on the loop's hooks.
/// </summary>
public static class SyntheticTrainer
{
    /// <summary>Evaluation batches hold at most this many tokens, so very long test sequences use smaller batches.</summary>
    public const long EvalTokensPerBatch = 1 << 18;

    /// <summary>Steps between reads of the training loss (each read waits for the device); logs and checks read too.</summary>
    public const int LossReadEvery = 50;

    /// <summary>
    /// Builds the variant's model (weights seeded by <see cref="TrainingOptions.Seed"/>) and trains it for
    /// <see cref="TrainingOptions.Steps"/> steps, or until the time limit or the validation target stops it first.
    /// With <see cref="TrainingOptions.Resume"/> and a checkpoint for the variant, the model, Adam's state and the
    /// progress come from the checkpoint instead and training continues at the step after the saved one; with
    /// <see cref="TrainingOptions.CheckpointDirectory"/> the checkpoint is (re)written when training ends.
    /// </summary>
    public static TrainingResult Train(ISyntheticTask task, ModelVariant variant, TrainingOptions options, Device device, TextWriter? log = null)
    {
        var checkpoint = TrainingCheckpoint.ReadForTraining(task, variant, options);
        var config = variant.Config(task.VocabSize, options.Layers, options.ModelDimension, options.StateSize);
        var model = TorchGlobalRandom.Seeded(options.Seed,
            () => checkpoint is null ? new MambaForCausalLM(config, device) : checkpoint.LoadModel(config, device));
        var evaluationKernels = model.Backbone.Kernels;
        var trainingKernels = MambaKernels.Default is ReferenceKernels ? new ReferenceKernels(options.ReferenceScanChunk) : evaluationKernels;
        model.Backbone.Kernels = trainingKernels;
        // The step down of --lr-drop-at happens once; a resumed run that had already taken it continues at the lower rate.
        int? lrDroppedAtStep = checkpoint?.LrDroppedAtStep;
        double learningRate = lrDroppedAtStep is null ? options.LearningRate : options.LrDropTo!.Value;
        int stepsBefore = checkpoint?.StepsDone ?? 0;
        var earlierTime = TimeSpan.FromSeconds(checkpoint?.TrainingSeconds ?? 0);
        int invocations = (checkpoint?.Invocations ?? 0) + 1;
        var recentLosses = new Queue<double>(checkpoint?.RecentLosses ?? Array.Empty<double>());
        var clock = Stopwatch.StartNew();
        double? validation = checkpoint?.ValidationAccuracy;
        // A checkpoint that already met the target (say, a resumed run whose earlier invocation reached it) trains no further.
        bool targetMetBefore = checkpoint is not null && options.TargetAccuracy is { } earlierTarget && validation >= earlierTarget;
        var lastLog = (Step: stepsBefore, Time: TimeSpan.Zero);
        TrainingCheckpoint Progress(int steps, string stoppedBy) => TrainingCheckpoint.Describe(task, variant, options, steps,
            earlierTime + clock.Elapsed, invocations, validation, stoppedBy, recentLosses) with { LrDroppedAtStep = lrDroppedAtStep };

        TrainingLoop? loop = null;
        loop = new TrainingLoop(model, new TrainingLoopOptions
        {
            Schedule = LearningRateSchedule.Constant(learningRate),   // Adam (no weight decay) at a constant rate, as in the paper
            TotalSteps = targetMetBefore ? stepsBefore : options.Steps,
            StartStep = stepsBefore,
            TimeLimit = options.TimeLimit,
            LossReadEvery = LossReadEvery,
            ValidateEvery = options.EvalEvery,
            HigherIsBetter = true,
            OnLoss = (_, loss) =>
            {
                recentLosses.Enqueue(loss);   // the last-50 window of the logs and the result
                if (recentLosses.Count > 50) recentLosses.Dequeue();
            },
            OnStep = s =>
            {
                bool logs = log is not null && (s.Validation is not null || (options.LogEvery > 0 && (s.Step % options.LogEvery == 0 || s.IsLast)));
                bool saves = !s.IsLast && options.CheckpointDirectory is not null && options.CheckpointEvery > 0 && s.Step % options.CheckpointEvery == 0;
                if (logs || saves) loop!.ReadLosses();
                if (logs)
                {
                    // Steps per second since the previous line, validation included: what predicts how far a time limit gets.
                    var now = clock.Elapsed;
                    double stepsPerSecond = (s.Step - lastLog.Step) / Math.Max((now - lastLog.Time).TotalSeconds, 1e-9);
                    lastLog = (s.Step, now);
                    string accuracy = s.Validation is { } v ? $"  val {MarkdownTable.Percent(v),5}%" : "";
                    log!.WriteLine($"  [{variant.Name}] step {s.Step,6}/{options.Steps}  loss {recentLosses.Average():F4}{accuracy}  " +
                                  $"{stepsPerSecond:F1} steps/s  ({now.TotalSeconds:F0} s)");
                    log!.Flush();   // output is often piped to a file on a remote machine; show progress as it happens
                }
                // Periodic checkpoint, so a run killed from outside (a machine's time limit per command) keeps its progress.
                if (saves)
                    TrainingCheckpoint.Save(options.CheckpointDirectory!, variant, model, loop!.Optimizer, Progress(s.Step, TrainingCheckpoint.InProgress));
            },
        });
        using var _ = loop;
        TrainingOutcome outcome;
        MambaCache? carried = null;   // --state-passing-from: the previous batch's final state
        try
        {
            checkpoint?.LoadOptimizer(loop.Optimizer, model);
            using var batches = new BatchStream(task, new Random(TrainingDataSeed(options.Seed, stepsBefore)), options.BatchSize,
                options.TrainLength, device);
            // One endless epoch of fresh random batches: there is no fixed training set to overfit.
            IEnumerable<(Tensor Inputs, Tensor Targets)> Batches() { while (true) yield return batches.Next(); }
            Tensor Loss((Tensor Inputs, Tensor Targets) batch)
            {
                var (inputs, targets) = batch;
                var logits = options.StatePassingFrom is { } from && loop.Step + 1 > from
                    ? model.Continue(inputs, carried ??= model.Backbone.NewCache(options.BatchSize, device))
                    : model.forward(inputs, null);
                return SyntheticTrainer.Loss(logits, options.LossOnEveryToken ? NextTokenTargets(inputs, targets) : targets);
            }
            ValidationResult Validate()
            {
                model.Backbone.Kernels = evaluationKernels;   // no autograd here, so the default chunking is the faster one
                validation = ValidationAccuracy(model, task, options, device);
                model.Backbone.Kernels = trainingKernels;
                if (options.TargetAccuracy is { } target && validation >= target) return new ValidationResult(validation.Value, Stop: true);
                if (lrDroppedAtStep is null && options.LrDropAt is { } dropAt && validation >= dropAt)
                {
                    loop.Schedule = LearningRateSchedule.Constant(options.LrDropTo!.Value);
                    lrDroppedAtStep = loop.Step;
                    log?.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"  [{variant.Name}] validation {MarkdownTable.Percent(validation!.Value)}% at step {loop.Step}: lr {options.LearningRate:G} → {options.LrDropTo:G} from here on"));
                }
                return new ValidationResult(validation.Value);
            }
            outcome = loop.Run(_ => Batches(), Loss, options.EvalEvery > 0 ? Validate : null);
        }
        catch (NonFiniteLossException e)
        {
            model.Dispose();      // nobody else will get the model
            throw new InvalidOperationException($"{variant.Name}: loss became {(float)e.Loss} at step {e.Step}", e);
        }
        catch
        {
            model.Dispose();      // training threw: nobody else will get the model
            throw;
        }
        finally
        {
            carried?.Dispose();
        }
        var stop = targetMetBefore ? StopReason.TargetAccuracy : outcome.StopReason switch
        {
            TrainingStopReason.TimeLimit => StopReason.TimeLimit,
            TrainingStopReason.ValidationRequest => StopReason.TargetAccuracy,
            _ => StopReason.AllSteps,
        };
        int stepsRun = outcome.Steps;
        var trainTime = clock.Elapsed;
        if (options.CheckpointDirectory is { } root && (checkpoint is null || stepsRun > stepsBefore))
        {
            TrainingCheckpoint.Save(root, variant, model, loop.Optimizer, Progress(stepsRun, TrainingCheckpoint.Name(stop)) with
            {
                TrainingSeconds = (earlierTime + trainTime).TotalSeconds,
            });
            log?.WriteLine($"  [{variant.Name}] checkpoint at step {stepsRun} saved to {TrainingCheckpoint.VariantDirectory(root, variant)}");
        }
        model.eval();
        model.Backbone.Kernels = evaluationKernels;   // without autograd the default chunking is the faster one
        var result = new TrainingResult(variant, model, stepsRun, options.Steps, stop, validation,
            recentLosses.Count > 0 ? recentLosses.Average() : double.NaN, trainTime, stepsBefore, earlierTime, lrDroppedAtStep);
        if (log is not null)
        {
            log.WriteLine($"  [{variant.Name}] {result.Summary}");
            log.Flush();
        }
        return result;
    }

    /// <summary>
    /// The seed of the training data stream when training starts after <paramref name="stepsDone"/> steps: the seed
    /// itself for a fresh run (so runs without checkpoints are exactly as before), and a seed derived from both for a
    /// resumed one.
    /// </summary>
    /// <remarks>
    /// A resumed run does not replay the interrupted stream (that would mean generating every batch already trained
    /// on); it starts a fresh <see cref="Random"/> instead. So a run interrupted and resumed at step n sees different
    /// but equally fresh random data from step n + 1 on than one run straight through; the model, Adam's state and
    /// the step count continue exactly. The derived seed is <c>V − 62·n</c> with V = <see cref="ValidationSeed"/>(seed)
    /// (int arithmetic, wrapping): each resume step gets its own; it is never ± the training seed (V − 62·n ∓ seed is
    /// 7918·seed + 104729 − 62·n or 7920·seed + 104729 − 62·n, both odd), nor the validation seed or an evaluation
    /// seed V + 31·L (the difference 31·(L + 2n) is not 0 for lengths and step counts in range). <see cref="Random"/>
    /// also folds a negative seed onto its absolute value; a folded seed 62·n − V can meet V + 31·L only when 31
    /// divides V, which it does not for seed 0, the default (V = 104729 = 31·3378 + 11), nor for most others.
    /// </remarks>
    public static int TrainingDataSeed(int seed, int stepsDone) =>
        stepsDone == 0 ? seed : unchecked(ValidationSeed(seed) - 62 * stepsDone);

    /// <summary>
    /// Accuracy on <see cref="TrainingOptions.ValidationSequences"/> sequences at the training length. The same
    /// sequences at every check, so successive values are comparable; they come from their own seed, so checking
    /// neither consumes the training data (runs with and without checks train on the same batches) nor sees test data.
    /// </summary>
    public static double ValidationAccuracy(MambaForCausalLM model, ISyntheticTask task, TrainingOptions options, Device device) =>
        Accuracy(model, task, options.TrainLength, options.ValidationSequences, options.EvalBatchSize,
            new Random(ValidationSeed(options.Seed)), device);

    /// <summary>Cross-entropy over the scored positions; <see cref="SyntheticBatch.Ignore"/> marks the rest.</summary>
    public static Tensor Loss(Tensor logits, Tensor targets) =>
        nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1),
            ignore_index: SyntheticBatch.Ignore);

    /// <summary>
    /// The targets of <see cref="TrainingOptions.LossOnEveryToken"/>: <paramref name="targets"/> where it scores a
    /// position, the next input token at every other position but the last.
    /// </summary>
    public static Tensor NextTokenTargets(Tensor inputs, Tensor targets)
    {
        long length = inputs.shape[1];
        var next = cat(new[] { inputs.narrow(1, 1, length - 1), full_like(inputs.narrow(1, 0, 1), SyntheticBatch.Ignore) }, 1);
        return where(targets.ne(SyntheticBatch.Ignore), targets, next);
    }

    /// <summary>
    /// Fraction of scored positions where the most likely token is the target, over <paramref name="sequences"/>
    /// fresh sequences of <paramref name="length"/> drawn from <paramref name="random"/>.
    /// </summary>
    /// <param name="inspect">When given, called with each batch and its predictions (the argmax token per position,
    /// flat row-major like the batch), e.g. to list the sequences the model got wrong.</param>
    public static double Accuracy(MambaForCausalLM model, ISyntheticTask task, int length, int sequences, int maxBatchSize,
        Random random, Device device, Action<SyntheticBatch, long[]>? inspect = null)
    {
        using var _ = no_grad();
        model.eval();
        int batchSize = (int)Math.Clamp(EvalTokensPerBatch / length, 1, maxBatchSize);
        long correct = 0, scored = 0;
        for (int done = 0; done < sequences; done += batchSize)
        {
            using var scope = NewDisposeScope();
            int size = Math.Min(batchSize, sequences - done);
            var batch = task.Sample(random, size, length);
            var (inputs, targets) = batch.ToTensors(device);
            var predicted = model.forward(inputs, null).argmax(-1);
            var mask = targets.ne(SyntheticBatch.Ignore);
            correct += predicted.eq(targets).logical_and(mask).sum().item<long>();
            scored += mask.sum().item<long>();
            inspect?.Invoke(batch, predicted.cpu().data<long>().ToArray());
        }
        return scored == 0 ? double.NaN : (double)correct / scored;
    }

    /// <summary>The evaluation data's seed: separate from training data, different for each length, reproducible.</summary>
    public static int EvaluationSeed(int seed, int length) => unchecked(seed * 7919 + length * 31 + 104729);

    /// <summary>
    /// The validation data's seed: the evaluation formula at length 0, which no test uses. It differs from every test
    /// seed (31 is odd, so distinct lengths give distinct seeds) and from the training seed (7918·seed is even, 104729 odd).
    /// </summary>
    public static int ValidationSeed(int seed) => EvaluationSeed(seed, 0);
}
