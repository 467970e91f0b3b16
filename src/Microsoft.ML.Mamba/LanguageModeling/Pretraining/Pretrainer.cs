using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// Pretrains a <see cref="MambaForCausalLM"/> on a <see cref="PackedTokenFile"/>: next-token loss on random windows
/// (<see cref="PackedTokenBlocks"/>), fused AdamW (β = 0.9, 0.95; no decay on A_log, D, norms and biases), linear warm-up
/// then cosine decay, gradient clipping, held-out loss at intervals, a checkpoint every few steps and at the end, and
/// the loss history in <c>loss.csv</c>. A run stopped by its time limit, a cancellation or a crash resumes from its
/// checkpoint with the same batches, learning rates and optimizer state it would have had.
/// </summary>
/// <example>
/// <code>
/// var data = PretrainingData.Prepare(PretrainingCorpus.ReadLines(["corpus/"]), tokenizer, "out/data");
/// using var train = PackedTokenFile.Open(data.TrainPath);
/// using var heldOut = PackedTokenFile.Open(data.HeldOutPath);
/// var model = new MambaForCausalLM(config);
/// var result = new Pretrainer(model, new PretrainingOptions { MaxSteps = 2000, WorkingDirectory = "out" }).Train(train, heldOut);
/// Pretrainer.SaveModel("out/model", model, tokenizer, result);
/// </code>
/// </example>
public sealed class Pretrainer
{
    /// <summary>The loss history's file name in <see cref="PretrainingOptions.WorkingDirectory"/>.</summary>
    public const string LossHistoryFile = "loss.csv";

    /// <summary>The summary written next to a saved model.</summary>
    public const string SummaryFile = "training_summary.json";

    private const string CsvHeader = "step,tokens,learning_rate,train_loss,heldout_loss,tokens_per_second,elapsed_seconds";
    private const int RecentLossWindow = 50;

    private readonly MambaForCausalLM _model;
    private readonly PretrainingOptions _options;
    private readonly Device _device;

    /// <summary>Moves <paramref name="model"/> to the options' device and casts it to their dtype, in place.</summary>
    public Pretrainer(MambaForCausalLM model, PretrainingOptions options)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        _device = options.Device ?? CPU;
        _model.to(_device);
        if (options.DType != ScalarType.Float32) _model.ToMixedPrecision(options.DType);
    }

    /// <summary>The model being trained.</summary>
    public MambaForCausalLM Model => _model;

    /// <summary>Trains on <paramref name="train"/> until <see cref="PretrainingOptions.MaxSteps"/> or the time limit.</summary>
    /// <param name="train">The training tokens.</param>
    /// <param name="heldOut">Held-out tokens for the loss at intervals and at the end; null = none.</param>
    /// <exception cref="ArgumentException">The files' vocabulary exceeds the model's, or the files come from different tokenizers.</exception>
    /// <exception cref="InvalidOperationException">Resuming with other data settings than the checkpoint's, or the loss diverged.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (after saving a checkpoint).</exception>
    public PretrainingResult Train(PackedTokenFile train, PackedTokenFile? heldOut = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckFits(train);
        if (heldOut is not null)
        {
            CheckFits(heldOut);
            if (heldOut.TokenizerIdentity != train.TokenizerIdentity)
                throw new ArgumentException($"The held-out tokens come from tokenizer '{heldOut.TokenizerIdentity}', the training tokens from '{train.TokenizerIdentity}'.", nameof(heldOut));
        }
        var o = _options;
        var blocks = new PackedTokenBlocks(train, o.BlockLength, o.BatchSize, o.Seed);

        var state = new PretrainingCheckpoint.State
        {
            Seed = o.Seed, BatchSize = o.BatchSize, BlockLength = o.BlockLength, MaxSteps = o.MaxSteps, Tokenizer = train.TokenizerIdentity,
        };
        bool resume = o.Resume && PretrainingCheckpoint.Exists(o.WorkingDirectory!);
        if (resume)
        {
            var saved = PretrainingCheckpoint.ReadState(o.WorkingDirectory!);
            CheckResumable(saved, state);
            state = saved;
        }
        var history = o.WorkingDirectory is null ? null : OpenHistory(Path.Combine(o.WorkingDirectory, LossHistoryFile), state.Step);
        try
        {
            return Run(new PackedTokenBlocks(train, o.BlockLength, o.BatchSize, o.Seed), heldOut, state, resume, history);
        }
        finally
        {
            history?.Dispose();
        }
    }

    // The library's training loop over an endless source of random windows; this class adds the checkpoints, the loss
    // history, the held-out evaluations and the progress reports around it.
    private PretrainingResult Run(PackedTokenBlocks blocks, PackedTokenFile? heldOut, PretrainingCheckpoint.State state, bool resume, StreamWriter? history)
    {
        var o = _options;
        int resumedFrom = state.Step;
        var prior = TimeSpan.FromSeconds(state.ElapsedSeconds);
        var clock = Stopwatch.StartNew();
        var recent = new Queue<double>(state.RecentLosses);
        var losses = new Dictionary<int, double>();   // read back from the device, not yet logged
        var rows = new Dictionary<int, (double Lr, double? HeldOut, long Tokens, double Throughput, double Elapsed)>();
        int nextRow = resumedFrom + 1;
        double reportLoss = 0; int reportCount = 0;
        double? heldOutLoss = null, evaluatedNow = null;
        TrainingLoop loop = null!;
        List<(string Name, Parameter Parameter)> ordered = null!;
        TimeSpan Elapsed() => prior + clock.Elapsed;
        double Throughput() => (double)(state.Step - resumedFrom) * o.BatchSize * o.BlockLength / Math.Max(1e-9, clock.Elapsed.TotalSeconds);

        void WriteRows()
        {
            while (losses.TryGetValue(nextRow, out double loss) && rows.TryGetValue(nextRow, out var r))
            {
                history?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{nextRow},{r.Tokens},{r.Lr:G6},{loss:G6},{(r.HeldOut is double e ? e.ToString("G6", CultureInfo.InvariantCulture) : "")},{r.Throughput:F1},{r.Elapsed:F2}"));
                losses.Remove(nextRow); rows.Remove(nextRow);
                nextRow++;
            }
            history?.Flush();
        }
        void Checkpoint()
        {
            loop.ReadLosses();
            WriteRows();
            if (o.WorkingDirectory is null) return;
            state.ElapsedSeconds = Elapsed().TotalSeconds;
            state.RecentLosses = recent.ToList();
            PretrainingCheckpoint.Save(o.WorkingDirectory, _model, loop.Optimizer, ordered, state);
        }
        void OnStep(TrainingStep s)
        {
            state.Step = s.Step;
            state.Tokens += (long)o.BatchSize * o.BlockLength;
            if (heldOut is not null && s.IsLast && s.Validation is null) heldOutLoss = evaluatedNow = Evaluate(heldOut);
            rows[s.Step] = (s.LearningRate, evaluatedNow, state.Tokens, Throughput(), Elapsed().TotalSeconds);
            if (evaluatedNow is not null || s.IsLast || s.Step % o.ReportEvery == 0 || s.Step == resumedFrom + 1)
            {
                loop.ReadLosses();
                o.Progress?.Report(new PretrainingProgress(s.Step, o.MaxSteps, reportCount > 0 ? reportLoss / reportCount : double.NaN,
                    s.LearningRate, Throughput(), state.Tokens, Elapsed(), evaluatedNow));
                reportLoss = 0; reportCount = 0;
            }
            evaluatedNow = null;
            WriteRows();
            if (o.CancellationToken.IsCancellationRequested) loop.ReadLosses();   // the next step throws: keep every loss for the checkpoint
            else if (!s.IsLast && o.CheckpointEvery > 0 && s.Step % o.CheckpointEvery == 0) Checkpoint();
        }

        var loopOptions = new TrainingLoopOptions
        {
            Schedule = new LearningRateSchedule(o.LearningRate, o.MaxSteps, LearningRateSchedule.WarmupStepsOf(o.MaxSteps, o.WarmupFraction), LearningRateDecay.Cosine, o.MinLearningRateRatio),
            WeightDecay = o.WeightDecay,
            Beta2 = 0.95,
            MaxGradientNorm = o.MaxGradientNorm,
            TotalSteps = o.MaxSteps,
            StartStep = resumedFrom,
            // A resumed run gets what is left of the limit; the decay follows whichever of steps and that time runs out first.
            TimeLimit = o.TimeLimit is { } limit && limit > prior ? limit - prior : o.TimeLimit,
            LossReadEvery = o.ReportEvery,   // each read waits for the device: not every step
            ValidateEvery = o.EvaluateEvery,
            CancellationToken = o.CancellationToken,
            OnLoss = (step, loss) =>
            {
                losses[step] = loss;
                recent.Enqueue(loss);
                while (recent.Count > RecentLossWindow) recent.Dequeue();
                reportLoss += loss; reportCount++;
            },
            OnStep = OnStep,
        };
        using var trainingLoop = new TrainingLoop(_model, loopOptions);
        loop = trainingLoop;
        // The optimizer's state is in its groups' order; the same grouping of our parameter list gives their names.
        var trainable = _model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        var names = trainable.ToDictionary(p => (object)p.parameter, p => p.name, ReferenceEqualityComparer.Instance);
        ordered = TrainingLoop.Groups(trainable, loopOptions).SelectMany(g => g.Parameters).Select(p => (names[p], p)).ToList();
        if (resume) PretrainingCheckpoint.Load(o.WorkingDirectory!, _model, loop.Optimizer, ordered);

        var stop = TrainingStopReason.AllSteps;
        bool timeSpent = o.TimeLimit is { } total && prior >= total;   // resumed after the limit ran out: raise it to go on
        try
        {
            if (timeSpent) stop = TrainingStopReason.TimeLimit;
            else stop = loop.Run(
                _ => Enumerable.Range(0, int.MaxValue).Select(i => blocks.Batch(resumedFrom + (long)i)),   // one endless epoch
                ids => BatchLoss(ids, o.BatchSize, o.BlockLength + 1),
                heldOut is null || o.EvaluateEvery == 0 ? null : (Func<ValidationResult>)(() => new ValidationResult((heldOutLoss = evaluatedNow = Evaluate(heldOut)).Value)),
                examplesIn: _ => o.BatchSize).StopReason;
        }
        catch (OperationCanceledException)
        {
            Checkpoint();
            throw;
        }
        if (heldOut is not null && heldOutLoss is null) heldOutLoss = Evaluate(heldOut);   // resumed with no step left
        Checkpoint();
        _model.eval();
        return new PretrainingResult(state.Step, state.Tokens, recent.Count > 0 ? recent.Average() : double.NaN, heldOutLoss, Throughput(),
            Elapsed(), resumedFrom, stop == TrainingStopReason.TimeLimit ? "time limit" : "steps");
    }

    /// <summary>
    /// Mean next-token loss (nats per predicted token) over consecutive windows from the start of <paramref name="heldOut"/>,
    /// at most <see cref="PretrainingOptions.EvaluationTokens"/> tokens; exp of it is the held-out perplexity.
    /// </summary>
    /// <exception cref="ArgumentException">The file holds fewer than one window of tokens.</exception>
    public double Evaluate(PackedTokenFile heldOut)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        CheckFits(heldOut);
        int width = _options.BlockLength + 1;
        long available = Math.Min(heldOut.TokenCount, _options.EvaluationTokens + 1);
        long windows = (available - 1) / _options.BlockLength;
        if (windows < 1)
            throw new ArgumentException($"'{heldOut.Path}' holds {heldOut.TokenCount} tokens, fewer than one window of {width}: prepare the data with a larger held-out share.", nameof(heldOut));
        bool wasTraining = _model.training;
        _model.eval();
        double sum = 0; long count = 0;
        var window = new int[width];
        using (no_grad())
        {
            for (long first = 0; first < windows; first += _options.BatchSize)
            {
                int rows = (int)Math.Min(_options.BatchSize, windows - first);
                var ids = new long[rows * width];
                for (int r = 0; r < rows; r++)
                {
                    heldOut.Read((first + r) * _options.BlockLength, window);
                    for (int t = 0; t < width; t++) ids[r * width + t] = window[t];
                }
                using var scope = NewDisposeScope();
                sum += BatchLoss(ids, rows, width).item<float>() * rows;
                count += rows;
            }
        }
        if (wasTraining) _model.train();
        return sum / count;
    }

    /// <summary>
    /// Writes the Hugging Face-layout folder (config.json, model.safetensors in the model's dtype), the tokenizer record
    /// (<see cref="MambaLanguageModelFolder"/>) and <see cref="SummaryFile"/>: tokens seen, steps, final losses, wall time and the command line.
    /// </summary>
    /// <param name="directory">The folder; created when missing.</param>
    /// <param name="model">The trained model.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="result">What <see cref="Train"/> returned.</param>
    /// <param name="huggingFaceTokenizerPath">For a Hugging Face tokenizer: where it was loaded from (its files are copied).</param>
    /// <param name="commandLine">Recorded in the summary; default: this process's command line.</param>
    public static void SaveModel(string directory, MambaForCausalLM model, IMambaTokenizer tokenizer, PretrainingResult result,
        string? huggingFaceTokenizerPath = null, string? commandLine = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        MambaLanguageModelFolder.Save(directory, model, tokenizer, huggingFaceTokenizerPath);
        var dtypes = model.parameters().GroupBy(p => p.dtype).Select(g => $"{g.Key}: {g.Sum(p => p.numel()):N0}");
        var summary = new JsonObject
        {
            ["tokens_seen"] = result.Tokens,
            ["steps"] = result.Steps,
            ["final_train_loss"] = Round(result.FinalTrainLoss),
            ["final_heldout_loss"] = result.FinalHeldOutLoss is double h ? Round(h) : null,
            ["heldout_perplexity"] = result.HeldOutPerplexity is double p ? Round(p) : null,
            ["wall_time_seconds"] = Math.Round(result.Elapsed.TotalSeconds, 1),
            ["tokens_per_second_last_segment"] = Math.Round(result.TokensPerSecond, 1),
            ["stop_reason"] = result.StopReason,
            ["parameters"] = model.parameters().Sum(q => q.numel()),
            ["parameter_dtypes"] = string.Join(", ", dtypes),
            ["tokenizer"] = PretrainingData.TokenizerIdentity(tokenizer, huggingFaceTokenizerPath),
            ["command_line"] = commandLine ?? Environment.CommandLine,
            ["saved_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        File.WriteAllText(Path.Combine(directory, SummaryFile), summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        static double Round(double v) => double.IsFinite(v) ? Math.Round(v, 5) : double.NaN;
    }

    // Mean cross-entropy of predicting tokens 1..n from tokens 0..n-1 of each row.
    private Tensor BatchLoss(long[] ids, int rows, int width)
    {
        var all = tensor(ids, new long[] { rows, width }, device: _device);
        var logits = _model.forward(all.narrow(1, 0, width - 1), null);
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), all.narrow(1, 1, width - 1).reshape(-1));
    }

    private void CheckFits(PackedTokenFile file)
    {
        if (file.VocabularySize > _model.Config.VocabSize)
            throw new ArgumentException($"'{file.Path}' was tokenized with {file.VocabularySize:N0} ids ({file.TokenizerIdentity}) but the model has {_model.Config.VocabSize:N0} embeddings.", nameof(file));
    }

    private static void CheckResumable(PretrainingCheckpoint.State saved, PretrainingCheckpoint.State now)
    {
        var differences = new List<string>();
        if (saved.Seed != now.Seed) differences.Add($"seed {saved.Seed} vs {now.Seed}");
        if (saved.BatchSize != now.BatchSize) differences.Add($"batch size {saved.BatchSize} vs {now.BatchSize}");
        if (saved.BlockLength != now.BlockLength) differences.Add($"block length {saved.BlockLength} vs {now.BlockLength}");
        if (saved.MaxSteps != now.MaxSteps) differences.Add($"max steps {saved.MaxSteps} vs {now.MaxSteps}");
        if (saved.Tokenizer != now.Tokenizer) differences.Add($"tokenizer {saved.Tokenizer} vs {now.Tokenizer}");
        if (differences.Count > 0)
            throw new InvalidOperationException($"The checkpoint was saved with other settings ({string.Join("; ", differences)}: saved vs now); " +
                "resume with the same settings, or start afresh in another working directory.");
    }

    // Opens loss.csv for appending; on resume drops rows past the checkpoint (a crashed run may have logged steps it did not save).
    private static StreamWriter OpenHistory(string path, int resumedFrom)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var kept = new List<string> { CsvHeader };
        if (resumedFrom > 0 && File.Exists(path))
            kept.AddRange(File.ReadLines(path).Skip(1).Where(l => int.TryParse(l.AsSpan(0, Math.Max(0, l.IndexOf(','))), CultureInfo.InvariantCulture, out int s) && s <= resumedFrom));
        File.WriteAllLines(path, kept);
        return new StreamWriter(path, append: true);
    }
}
