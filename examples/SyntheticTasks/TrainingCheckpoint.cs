using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// One variant's training progress, saved by --checkpoint-dir so a long run can be split over several commands and
/// continued with --resume. The folder <c>DIR/&lt;variant&gt;/</c> holds
/// <list type="bullet">
/// <item><c>config.json</c> and <c>model.safetensors</c>: the weights, as <see cref="MambaForCausalLM.SavePretrained"/>
/// writes them (the config keeps the ablation switches <c>time_invariant_ssm</c> and <c>ungated</c>);</item>
/// <item><c>optimizer.safetensors</c>: Adam's state, per parameter <c>NAME.exp_avg</c>, <c>NAME.exp_avg_sq</c> and
/// <c>NAME.step</c> (the bias-correction count);</item>
/// <item><c>training.json</c>: this record (steps done, settings, training time, last validation, stop reason).</item>
/// </list>
/// A save writes a fresh <c>&lt;variant&gt;.saving</c> folder and then swaps it in, so a run killed mid-save leaves the
/// previous checkpoint usable.
/// </summary>
public sealed record TrainingCheckpoint
{
    public const string StateFileName = "training.json";
    public const string OptimizerFileName = "optimizer.safetensors";
    public const int CurrentFormat = 1;

    /// <summary>Written to <see cref="StoppedBy"/> by the periodic saves of --checkpoint-every, while training goes on.</summary>
    public const string InProgress = "in-progress";

    [JsonPropertyName("format")] public int Format { get; init; } = CurrentFormat;
    [JsonPropertyName("task")] public string Task { get; init; } = "";
    [JsonPropertyName("variant")] public string Variant { get; init; } = "";
    /// <summary>Training steps done so far, over all invocations; the next one is step <c>StepsDone + 1</c>.</summary>
    [JsonPropertyName("steps_done")] public int StepsDone { get; init; }
    /// <summary>--steps of the invocation that saved it (informational: a resumed run trains up to its own --steps).</summary>
    [JsonPropertyName("planned_steps")] public int PlannedSteps { get; init; }
    [JsonPropertyName("seed")] public int Seed { get; init; }
    /// <summary>The learning rate training started with (--lr).</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; }
    /// <summary>--lr-drop-at as a fraction, or null for a constant learning rate.</summary>
    [JsonPropertyName("lr_drop_at")] public double? LrDropAt { get; init; }
    /// <summary>--lr-drop-to, or null for a constant learning rate.</summary>
    [JsonPropertyName("lr_drop_to")] public double? LrDropTo { get; init; }
    /// <summary>The step after which the learning rate was lowered, or null while it has not been.</summary>
    [JsonPropertyName("lr_dropped_at_step")] public int? LrDroppedAtStep { get; init; }
    [JsonPropertyName("batch")] public int BatchSize { get; init; }
    /// <summary>--loss-on-every-token (absent in older checkpoints, which all trained without it).</summary>
    [JsonPropertyName("loss_on_every_token")] public bool LossOnEveryToken { get; init; }
    [JsonPropertyName("train_length")] public int TrainLength { get; init; }
    /// <summary>The task's own sizes by flag name (vocab, data-tokens), see <see cref="TaskSizesOf"/>.</summary>
    [JsonPropertyName("task_sizes")] public Dictionary<string, int> TaskSizes { get; init; } = new();
    [JsonPropertyName("layers")] public int Layers { get; init; }
    [JsonPropertyName("model_dim")] public int ModelDimension { get; init; }
    [JsonPropertyName("state_size")] public int StateSize { get; init; }
    /// <summary>Wall time of training (periodic validation included) over all invocations, in seconds.</summary>
    [JsonPropertyName("training_seconds")] public double TrainingSeconds { get; init; }
    /// <summary>How many invocations have trained this checkpoint.</summary>
    [JsonPropertyName("invocations")] public int Invocations { get; init; }
    /// <summary>The last periodic validation accuracy (a fraction), or null if none was measured yet.</summary>
    [JsonPropertyName("validation_accuracy")] public double? ValidationAccuracy { get; init; }
    /// <summary>What ended the invocation that saved it: all-steps, time-limit, target-accuracy, or <see cref="InProgress"/>.</summary>
    [JsonPropertyName("stop_reason")] public string StoppedBy { get; init; } = InProgress;
    /// <summary>The losses of the last (up to) 50 steps, so the running loss and "Final train loss" carry on across a resume.</summary>
    [JsonPropertyName("recent_losses")] public double[] RecentLosses { get; init; } = Array.Empty<double>();
    [JsonPropertyName("saved_utc")] public DateTime SavedUtc { get; init; }

    /// <summary>The folder the checkpoint was read from (not saved).</summary>
    [JsonIgnore] public string Folder { get; init; } = "";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>Where <paramref name="variant"/>'s checkpoint lives under <paramref name="root"/>.</summary>
    public static string VariantDirectory(string root, ModelVariant variant) => Path.Combine(root, variant.Name);

    /// <summary>The task sizes a checkpoint must agree on, keyed by the flag that sets them.</summary>
    public static Dictionary<string, int> TaskSizesOf(ISyntheticTask task)
    {
        var sizes = new Dictionary<string, int> { ["vocab"] = task.VocabSize };
        if (task is SelectiveCopyingTask copying) sizes["data-tokens"] = copying.DataTokens;
        if (task is MultiQueryAssociativeRecallTask recall) sizes["kv-pairs"] = recall.KeyValuePairs;
        return sizes;
    }

    /// <summary>
    /// The record for a save after <paramref name="stepsDone"/> steps of this invocation's settings.
    /// </summary>
    public static TrainingCheckpoint Describe(ISyntheticTask task, ModelVariant variant, TrainingOptions options, int stepsDone,
        TimeSpan trainingTime, int invocations, double? validation, string stopReason, IEnumerable<double> recentLosses) => new()
    {
        Task = task.Name,
        Variant = variant.Name,
        StepsDone = stepsDone,
        PlannedSteps = options.Steps,
        Seed = options.Seed,
        LearningRate = options.LearningRate,
        BatchSize = options.BatchSize,
        LossOnEveryToken = options.LossOnEveryToken,
        TrainLength = options.TrainLength,
        TaskSizes = TaskSizesOf(task),
        Layers = options.Layers,
        ModelDimension = options.ModelDimension,
        StateSize = options.StateSize,
        LrDropAt = options.LrDropAt,
        LrDropTo = options.LrDropTo,
        TrainingSeconds = trainingTime.TotalSeconds,
        Invocations = invocations,
        ValidationAccuracy = validation,
        StoppedBy = stopReason,
        RecentLosses = recentLosses.ToArray(),
        SavedUtc = DateTime.UtcNow,
    };

    /// <summary>The JSON name of a stop reason.</summary>
    public static string Name(StopReason reason) => reason switch
    {
        StopReason.TimeLimit => "time-limit",
        StopReason.TargetAccuracy => "target-accuracy",
        _ => "all-steps",
    };

    /// <summary>
    /// Reads <paramref name="variant"/>'s checkpoint under <paramref name="root"/>, or null when there is none. A
    /// save interrupted between its two renames leaves only <c>&lt;variant&gt;.previous</c>, which is used then.
    /// </summary>
    public static TrainingCheckpoint? Read(string root, ModelVariant variant)
    {
        string directory = VariantDirectory(root, variant);
        foreach (var candidate in new[] { directory, directory + ".previous" })
        {
            string path = Path.Combine(candidate, StateFileName);
            if (!File.Exists(path)) continue;
            TrainingCheckpoint? state;
            try { state = JsonSerializer.Deserialize<TrainingCheckpoint>(File.ReadAllText(path), s_json); }
            catch (JsonException e) { throw new InvalidOperationException($"checkpoint file {path} is not valid JSON: {e.Message}", e); }
            if (state is null) throw new InvalidOperationException($"checkpoint file {path} is empty");
            if (state.Format != CurrentFormat)
                throw new InvalidOperationException($"checkpoint file {path} has format {state.Format}; this build reads format {CurrentFormat}");
            return state with { Folder = candidate };
        }
        return null;
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming every flag whose value differs from the checkpoint's: a resumed
    /// run must continue the same experiment (seed, lr, batch, training length, task and model sizes).
    /// </summary>
    public void CheckMatches(ISyntheticTask task, ModelVariant variant, TrainingOptions options)
    {
        var problems = new List<string>();
        void Compare<T>(string flag, T saved, T now)
        {
            if (!EqualityComparer<T>.Default.Equals(saved, now))
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"--{flag} is {now} here but {saved} in the checkpoint"));
        }
        if (Task != task.Name) problems.Add($"it is a {Task} checkpoint, this run is {task.Name}");
        if (Variant != variant.Name) problems.Add($"it holds variant {Variant}, not {variant.Name}");
        Compare("seed", Seed, options.Seed);
        if (LearningRate != options.LearningRate)
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"--lr is {options.LearningRate:R} here but {LearningRate:R} in the checkpoint"));
        if (LrDropAt != options.LrDropAt || LrDropTo != options.LrDropTo)
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"--lr-drop-at/--lr-drop-to are {LrPlan(options.LrDropAt, options.LrDropTo)} here but {LrPlan(LrDropAt, LrDropTo)} in the checkpoint"));
        Compare("batch", BatchSize, options.BatchSize);
        Compare("loss-on-every-token", LossOnEveryToken, options.LossOnEveryToken);
        Compare("train-length", TrainLength, options.TrainLength);
        var sizes = TaskSizesOf(task);
        foreach (string key in sizes.Keys.Union(TaskSizes.Keys))
            Compare(key, TaskSizes.TryGetValue(key, out int saved) ? saved.ToString(CultureInfo.InvariantCulture) : "(none)",
                sizes.TryGetValue(key, out int now) ? now.ToString(CultureInfo.InvariantCulture) : "(none)");
        Compare("layers", Layers, options.Layers);
        Compare("model-dim", ModelDimension, options.ModelDimension);
        Compare("state-size", StateSize, options.StateSize);
        if (problems.Count > 0)
            throw new ArgumentException($"cannot resume from {Folder}: {string.Join("; ", problems)}. " +
                                        "Resume with the checkpoint's settings, or start a new run in another --checkpoint-dir.");
    }

    /// <summary>
    /// Before any training: with --resume, checks every variant's checkpoint against the flags and says where each
    /// variant starts; without it, refuses to overwrite an existing checkpoint. Throws <see cref="ArgumentException"/>
    /// (exit code 2) so that a mismatch is reported at once, not after the first variant has trained.
    /// </summary>
    public static void CheckBeforeTraining(ISyntheticTask task, IEnumerable<ModelVariant> variants, TrainingOptions options, TextWriter? log)
    {
        if (options.CheckpointDirectory is not { } root) return;
        foreach (var variant in variants)
        {
            var checkpoint = ReadForTraining(task, variant, options);
            if (log is null || !options.Resume) continue;
            log.WriteLine(checkpoint is null
                ? $"  [{variant.Name}] no checkpoint in {VariantDirectory(root, variant)}: starting fresh"
                : $"  [{variant.Name}] resuming from {checkpoint.Folder} at step {Count(checkpoint.StepsDone)} " +
                  $"({RunReport.Duration(TimeSpan.FromSeconds(checkpoint.TrainingSeconds))} of training in {checkpoint.Invocations} " +
                  $"invocation(s), last stopped by: {checkpoint.StoppedBy}" +
                  (checkpoint.ValidationAccuracy is { } v ? $", validation {MarkdownTable.Percent(v)}%" : "") + ")");
        }
        log?.Flush();
    }

    /// <summary>
    /// The checkpoint training should continue from: null without --checkpoint-dir, or with --resume and no checkpoint
    /// yet. Throws <see cref="ArgumentException"/> when one exists without --resume, or does not match the flags.
    /// </summary>
    public static TrainingCheckpoint? ReadForTraining(ISyntheticTask task, ModelVariant variant, TrainingOptions options)
    {
        if (options.CheckpointDirectory is not { } root) return null;
        var checkpoint = Read(root, variant);
        if (checkpoint is null) return null;
        if (!options.Resume)
            throw new ArgumentException($"{checkpoint.Folder} already holds a checkpoint ({Count(checkpoint.StepsDone)} steps); " +
                                        "pass --resume to continue it, or use another --checkpoint-dir");
        checkpoint.CheckMatches(task, variant, options);
        return checkpoint;
    }

    /// <summary>The checkpoint's model on <paramref name="device"/>, after checking that its config is the variant's.</summary>
    public MambaForCausalLM LoadModel(MambaConfig expected, Device device)
    {
        MambaForCausalLM model;
        try { model = MambaForCausalLM.FromPretrained(Folder, device); }
        catch (Exception e) when (e is IOException or MambaCheckpointException or InvalidDataException)
        {
            throw new InvalidOperationException($"cannot load the model of checkpoint {Folder}: {e.Message}", e);
        }
        var c = model.Config;
        var differences = new List<string>();
        void Compare<T>(string field, T saved, T now)
        {
            if (!EqualityComparer<T>.Default.Equals(saved, now)) differences.Add($"{field} {saved} (expected {now})");
        }
        Compare("vocab_size", c.VocabSize, expected.VocabSize);
        Compare("hidden_size", c.HiddenSize, expected.HiddenSize);
        Compare("num_hidden_layers", c.NumHiddenLayers, expected.NumHiddenLayers);
        Compare("state_size", c.StateSize, expected.StateSize);
        Compare("inner size", c.InnerSize, expected.InnerSize);
        Compare("conv_kernel", c.ConvKernel, expected.ConvKernel);
        Compare("tie_word_embeddings", c.TieWordEmbeddings, expected.TieWordEmbeddings);
        Compare("time_invariant_ssm", c.TimeInvariantSsm, expected.TimeInvariantSsm);
        Compare("ungated", c.Ungated, expected.Ungated);
        if (differences.Count > 0)
        {
            model.Dispose();
            throw new InvalidOperationException($"checkpoint {Folder} holds a different model: {string.Join(", ", differences)}");
        }
        return model;
    }

    /// <summary>Loads the saved Adam state into <paramref name="optimizer"/>, built on <paramref name="model"/>'s parameters.</summary>
    public void LoadOptimizer(optim.Optimizer optimizer, MambaForCausalLM model)
    {
        try { LoadAdamState(optimizer, model, Path.Combine(Folder, OptimizerFileName)); }
        catch (Exception e) when (e is IOException or MambaCheckpointException or KeyNotFoundException)
        {
            throw new InvalidOperationException($"cannot load the optimizer state of checkpoint {Folder}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes the model, the optimizer state and <paramref name="state"/> to <c>root/&lt;variant&gt;/</c>, replacing
    /// what was there only once everything is written.
    /// </summary>
    public static void Save(string root, ModelVariant variant, MambaForCausalLM model, optim.Optimizer optimizer, TrainingCheckpoint state)
    {
        string target = VariantDirectory(root, variant);
        string saving = target + ".saving", previous = target + ".previous";
        if (Directory.Exists(saving)) Directory.Delete(saving, recursive: true);
        model.SavePretrained(saving);
        SaveAdamState(optimizer, model, Path.Combine(saving, OptimizerFileName));
        File.WriteAllText(Path.Combine(saving, StateFileName), JsonSerializer.Serialize(state, s_json));
        // Swap: the old checkpoint stays complete under .previous until the new one is in place.
        if (Directory.Exists(target))
        {
            if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
            Directory.Move(target, previous);
        }
        Directory.Move(saving, target);
        if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
    }

    /// <summary>
    /// Saves Adam's per-parameter state (moments and step count) as safetensors, named after the model's parameters.
    /// TorchSharp's own <c>save_state_dict</c> is not used because its loader writes tensor bytes in place, which needs
    /// CPU tensors; this copies through <c>copy_</c> and works on any device.
    /// </summary>
    public static void SaveAdamState(optim.Optimizer optimizer, nn.Module model, string path)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, state) in AdamStates(optimizer, model))
        {
            tensors[name + ".exp_avg"] = state.exp_avg;
            tensors[name + ".exp_avg_sq"] = state.exp_avg_sq;
            tensors[name + ".step"] = tensor(new[] { state.step });
            if (state.max_exp_avg_sq is not null) tensors[name + ".max_exp_avg_sq"] = state.max_exp_avg_sq;
        }
        SafeTensorsFile.Save(path, tensors, new Dictionary<string, string> { ["optimizer"] = "Adam (AdamW without weight decay)" });
    }

    /// <summary>Restores what <see cref="SaveAdamState"/> wrote into an optimizer over the same parameters.</summary>
    public static void LoadAdamState(optim.Optimizer optimizer, nn.Module model, string path)
    {
        var saved = SafeTensorsFile.Load(path);
        try
        {
            var states = AdamStates(optimizer, model);
            var expected = new HashSet<string>(StringComparer.Ordinal);
            using var _ = no_grad();
            foreach (var (name, state) in states)
            {
                Copy(name + ".exp_avg", state.exp_avg);
                Copy(name + ".exp_avg_sq", state.exp_avg_sq);
                if (state.max_exp_avg_sq is not null) Copy(name + ".max_exp_avg_sq", state.max_exp_avg_sq);
                expected.Add(name + ".step");
                state.step = Get(name + ".step").item<long>();
            }
            var unused = saved.Keys.Where(k => !expected.Contains(k)).ToArray();
            if (unused.Length > 0) throw new MambaCheckpointException($"{path}: unexpected tensor(s) {string.Join(", ", unused)}");

            void Copy(string key, Tensor into)
            {
                expected.Add(key);
                var source = Get(key);
                if (!source.shape.SequenceEqual(into.shape) || source.dtype != into.dtype)
                    throw new MambaCheckpointException(
                        $"{path}: {key} is {source.dtype} ({string.Join(", ", source.shape)}), the model needs {into.dtype} ({string.Join(", ", into.shape)})");
                into.copy_(source);
            }
            Tensor Get(string key) => saved.TryGetValue(key, out var t) ? t : throw new MambaCheckpointException($"{path}: no tensor {key}");
        }
        finally
        {
            foreach (var t in saved.Values) t.Dispose();
        }
    }

    // Adam's live per-parameter state, paired with the parameter names. The optimizer was built from
    // model.parameters(), whose order is that of named_parameters().
    private static List<(string Name, TorchSharp.Modules.AdamW.State State)> AdamStates(optim.Optimizer optimizer, nn.Module model)
    {
        var helper = optimizer as TorchSharp.Modules.OptimizerHelper
                     ?? throw new ArgumentException($"expected (Fused)AdamW, got {optimizer.GetType().Name}");
        var states = helper.state_dict().State;
        var names = model.named_parameters().Select(p => p.name).ToArray();
        if (states.Count != names.Length)
            throw new InvalidOperationException($"the optimizer holds {states.Count} parameter states, the model has {names.Length} parameters");
        return names.Select((name, i) => (name, states[i] as TorchSharp.Modules.AdamW.State
                                                 ?? throw new ArgumentException($"expected AdamW state, got {states[i].GetType().Name}"))).ToList();
    }

    // --lr-drop-at/--lr-drop-to in words, for the mismatch message.
    private static string LrPlan(double? at, double? to) =>
        at is { } a && to is { } t ? string.Create(CultureInfo.InvariantCulture, $"{100 * a:G4}%/{t:R}") : "unset";

    private static string Count(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
