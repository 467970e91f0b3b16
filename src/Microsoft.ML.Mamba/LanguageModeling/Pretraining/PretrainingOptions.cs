using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>Settings for <see cref="Pretrainer"/>.</summary>
public sealed class PretrainingOptions
{
    /// <summary>Tokens per training window (the context the model learns over). Default 256.</summary>
    public int BlockLength { get; set; } = 256;

    /// <summary>Windows per optimizer step. Default 16.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>Optimizer steps to train for; the learning-rate schedule spans them. Default 1,000.</summary>
    public int MaxSteps { get; set; } = 1000;

    /// <summary>
    /// Stops (with a checkpoint) once the run, resumed segments included, has trained this long, checked after each step;
    /// the cosine decay follows whichever of steps and time runs out first. A resumed run gets what is left of it, and
    /// trains no step when nothing is (raise the limit to go on). Null = no limit.
    /// </summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Peak AdamW learning rate. Default 1e-3.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>
    /// Share of <see cref="MaxSteps"/> spent warming the learning rate up linearly from zero, as in the other training
    /// options; afterwards a cosine decays it to <see cref="MinLearningRateRatio"/> of the peak. Default 0.1.
    /// </summary>
    public double WarmupFraction { get; set; } = 0.1;

    /// <summary>Where the cosine ends, as a share of the peak. Default 0.1.</summary>
    public double MinLearningRateRatio { get; set; } = 0.1;

    /// <summary>AdamW weight decay, not applied to A_log, D, norms and biases. Default 0.1.</summary>
    public double WeightDecay { get; set; } = 0.1;

    /// <summary>Gradient norm clip; 0 = off. Default 1.</summary>
    public double MaxGradientNorm { get; set; } = 1.0;

    /// <summary>Chooses the training windows (<see cref="PackedTokenBlocks"/>). Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>Where to train; null = CPU.</summary>
    public Device? Device { get; set; }

    /// <summary>
    /// Parameter and optimizer-state dtype: Float32 (default) or BFloat16/Float16, in which case A_log and D stay fp32
    /// (they feed exp() and the skip term, as in mamba_ssm training). bf16 is meant for CUDA.
    /// </summary>
    public ScalarType DType { get; set; } = ScalarType.Float32;

    /// <summary>
    /// Folder for the checkpoint (<c>checkpoint/</c>) and the loss history (<c>loss.csv</c>). Null = neither is written.
    /// </summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>Continues from the checkpoint in <see cref="WorkingDirectory"/> when there is one.</summary>
    public bool Resume { get; set; }

    /// <summary>Saves a checkpoint every this many steps (and always at the end); 0 = only at the end. Default 500.</summary>
    public int CheckpointEvery { get; set; } = 500;

    /// <summary>Measures held-out loss every this many steps (and always at the end); 0 = only at the end. Default 200.</summary>
    public int EvaluateEvery { get; set; } = 200;

    /// <summary>Held-out tokens each evaluation reads at most (from the start of the held-out file). Default 65,536.</summary>
    public long EvaluationTokens { get; set; } = 65_536;

    /// <summary>Reports progress every this many steps. Default 10.</summary>
    public int ReportEvery { get; set; } = 10;

    /// <summary>Receives progress reports and every held-out evaluation.</summary>
    public IProgress<PretrainingProgress>? Progress { get; set; }

    /// <summary>Checked before every step; a cancelled run saves its checkpoint and throws <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; set; }

    internal void Validate()
    {
        if (BlockLength < 1) throw new ArgumentOutOfRangeException(nameof(BlockLength), BlockLength, "must be ≥ 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "must be ≥ 1");
        if (MaxSteps < 1) throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "must be ≥ 1");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be > 0");
        if (!(WarmupFraction >= 0 && WarmupFraction < 1)) throw new ArgumentOutOfRangeException(nameof(WarmupFraction), WarmupFraction, "must be in [0, 1)");
        if (!(MinLearningRateRatio >= 0 && MinLearningRateRatio <= 1)) throw new ArgumentOutOfRangeException(nameof(MinLearningRateRatio), MinLearningRateRatio, "must be in [0, 1]");
        if (CheckpointEvery < 0) throw new ArgumentOutOfRangeException(nameof(CheckpointEvery), CheckpointEvery, "must be ≥ 0");
        if (EvaluateEvery < 0) throw new ArgumentOutOfRangeException(nameof(EvaluateEvery), EvaluateEvery, "must be ≥ 0");
        if (EvaluationTokens < 1) throw new ArgumentOutOfRangeException(nameof(EvaluationTokens), EvaluationTokens, "must be ≥ 1");
        if (ReportEvery < 1) throw new ArgumentOutOfRangeException(nameof(ReportEvery), ReportEvery, "must be ≥ 1");
        if (DType is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentOutOfRangeException(nameof(DType), DType, "must be Float32, BFloat16 or Float16");
        if (Resume && WorkingDirectory is null) throw new ArgumentException("Resume needs a WorkingDirectory to find the checkpoint in.", nameof(Resume));
    }
}
