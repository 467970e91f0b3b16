using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>The flags both examples share: variants, training sizes, optimiser, seed, device, output file.</summary>
public sealed record CommonFlags(IReadOnlyList<ModelVariant> Variants, TrainingOptions Options, Device Device, string DeviceName,
    string ResultsPath, int Threads)
{
    /// <summary>The shared flags that take no value; pass them to <see cref="CommandLineFlags"/>'s constructor.</summary>
    public static IReadOnlyList<string> Switches { get; } = new[] { "resume", "loss-on-every-token" };

    /// <summary>Reads the shared flags, with defaults taken from <paramref name="defaults"/> (the preset's).</summary>
    /// <param name="defaultVariants">--variants when not given (the Table 1 comparison unless the example says otherwise).</param>
    public static CommonFlags Read(CommandLineFlags flags, TrainingOptions defaults, string defaultResultsPath,
        string defaultVariants = "mamba,time-invariant,ungated")
    {
        var variants = ModelVariant.ParseList(flags.String("variants", defaultVariants,
            $"comma-separated list of {string.Join(", ", ModelVariant.Known.Select(v => v.Name))}, or all (the first four)"));
        var options = defaults with
        {
            Steps = flags.Int("steps", defaults.Steps, "training steps per variant"),
            BatchSize = flags.Int("batch", defaults.BatchSize, "training batch size"),
            TrainLength = flags.Int("train-length", defaults.TrainLength, "training sequence length"),
            LearningRate = flags.Double("lr", defaults.LearningRate, "Adam learning rate (constant)"),
            Seed = flags.Int("seed", defaults.Seed, "seed for weights and data"),
            EvalSequences = flags.Int("eval-sequences", defaults.EvalSequences, "sequences scored per evaluation"),
            EvalBatchSize = flags.Int("eval-batch", defaults.EvalBatchSize, "largest evaluation batch"),
            LogEvery = flags.Int("log-every", defaults.LogEvery, "print the loss every N steps (0 = never)"),
            Layers = flags.Int("layers", defaults.Layers, "Mamba layers"),
            ModelDimension = flags.Int("model-dim", defaults.ModelDimension, "model (hidden) dimension"),
            StateSize = flags.Int("state-size", defaults.StateSize, "SSM state size N"),
            ReferenceScanChunk = flags.Int("scan-chunk", defaults.ReferenceScanChunk, "reference-scan chunk while training (speed only)"),
            EvalEvery = flags.Int("eval-every", defaults.EvalEvery,
                "every N steps, log accuracy on a fixed validation set at the training length (0 = never)"),
            ValidationSequences = flags.Int("val-sequences", defaults.ValidationSequences,
                "sequences in that validation set (own seed, separate from training and test data)"),
        };
        double? timeLimitMinutes = flags.OptionalDouble("time-limit-minutes",
            "stop training each variant after this many minutes (checked every step); evaluation and the report still run");
        double? targetPercent = flags.OptionalDouble("target-accuracy",
            "stop training once validation accuracy reaches this percent (needs --eval-every)");
        double? lrDropPercent = flags.OptionalDouble("lr-drop-at",
            "lower the learning rate once, to --lr-drop-to, when validation accuracy first reaches this percent (needs --eval-every)");
        double? lrDropTo = flags.OptionalDouble("lr-drop-to", "the learning rate after --lr-drop-at");
        int? statePassingFrom = flags.OptionalInt("state-passing-from",
            "after step N, start each training batch from the previous batch's final state instead of zeros (not in the Mamba paper)");
        bool lossOnEveryToken = flags.Switch("loss-on-every-token",
            "train on every position's next token (the task's target where it has one), as the H3 code's induction-head data does; tests still score the task's positions");
        string checkpointDirectory = flags.String("checkpoint-dir", "none",
            "save each variant's model, Adam state and progress to DIR/<variant>/ when its training ends (see --resume)");
        int checkpointEvery = flags.Int("checkpoint-every", 0,
            "with --checkpoint-dir, also save every N steps, overwriting (0 = only at the end)");
        bool resume = flags.Switch("resume",
            "continue each variant from its checkpoint in --checkpoint-dir up to --steps (one without a checkpoint starts fresh)");
        string deviceName = flags.String("device", "auto", "auto (cuda when available), cpu, cuda or cuda:N");
        int threads = flags.Int("threads", 0, "CPU threads for libtorch (0 = libtorch's default)");
        string results = flags.String("results", defaultResultsPath, "markdown file the results table is written to");
        if (options.Steps < 0 || options.BatchSize <= 0 || options.EvalSequences <= 0 || options.EvalBatchSize <= 0)
            throw new ArgumentException("--steps must be ≥ 0 and --batch, --eval-sequences, --eval-batch positive");
        if (!(options.LearningRate > 0)) throw new ArgumentException("--lr must be positive");
        if (options.EvalEvery < 0 || options.ValidationSequences <= 0)
            throw new ArgumentException("--eval-every must be ≥ 0 and --val-sequences positive");
        if (timeLimitMinutes is { } minutes && !(minutes > 0)) throw new ArgumentException("--time-limit-minutes must be positive");
        if (targetPercent is { } percent && !(percent > 0 && percent <= 100)) throw new ArgumentException("--target-accuracy is a percentage in (0, 100]");
        if (targetPercent is not null && options.EvalEvery == 0) throw new ArgumentException("--target-accuracy needs --eval-every N to check it");
        if (lrDropPercent is { } dropAt && !(dropAt > 0 && dropAt <= 100)) throw new ArgumentException("--lr-drop-at is a percentage in (0, 100]");
        if ((lrDropPercent is null) != (lrDropTo is null)) throw new ArgumentException("--lr-drop-at and --lr-drop-to go together");
        if (lrDropTo is { } lowered && !(lowered > 0)) throw new ArgumentException("--lr-drop-to must be positive");
        if (statePassingFrom is < 0) throw new ArgumentException("--state-passing-from must be ≥ 0");
        if (lrDropPercent is not null && options.EvalEvery == 0) throw new ArgumentException("--lr-drop-at needs --eval-every N to check it");
        bool checkpoints = !string.Equals(checkpointDirectory, "none", StringComparison.OrdinalIgnoreCase);
        if (checkpoints && string.IsNullOrWhiteSpace(checkpointDirectory)) throw new ArgumentException("--checkpoint-dir needs a folder");
        if (checkpointEvery < 0) throw new ArgumentException("--checkpoint-every must be ≥ 0");
        if (checkpointEvery > 0 && !checkpoints) throw new ArgumentException("--checkpoint-every needs --checkpoint-dir DIR");
        if (resume && !checkpoints) throw new ArgumentException("--resume needs --checkpoint-dir DIR (the folder of the run to continue)");
        options = options with
        {
            TimeLimit = timeLimitMinutes is { } m ? TimeSpan.FromMinutes(m) : null,
            TargetAccuracy = targetPercent / 100,
            LrDropAt = lrDropPercent / 100,
            LrDropTo = lrDropTo,
            StatePassingFrom = statePassingFrom,
            LossOnEveryToken = lossOnEveryToken,
            CheckpointDirectory = checkpoints ? checkpointDirectory : null,
            CheckpointEvery = checkpointEvery,
            Resume = resume,
        };
        var device = DeviceChoice.Resolve(deviceName);
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
        return new CommonFlags(variants, options, device, device.type.ToString().ToLowerInvariant(), results, threads);
    }
}
