using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>
/// The reduced sizes the CI comparison trains at, and the accuracy bounds it asserts. Chosen from runs over several
/// seeds on two busy CPU cores (see docs/synthetic-tasks.md): big enough for the selective model to learn, small
/// enough to finish in minutes. Half-width model (32, state 8) and lr 1e-2 because they learn fastest per second.
/// </summary>
internal static class CiSizes
{
    public const int CopyingDataTokens = 3;

    public static readonly TrainingOptions Copying = new()
    {
        TrainLength = 32, BatchSize = 32, Steps = 400, LearningRate = 1e-2, ModelDimension = 32, StateSize = 8,
        EvalSequences = 256, EvalBatchSize = 256, LogEvery = 0,
    };
    // Re-measured 2026-12-01 with seeds 1–8 (MAMBA_SYNTHETIC_SEED): selective 99.6–100 %, time-invariant 13.0–62.0 %
    // (seed 1, the CI seed: 99.6 / 17.4). Sequences this short let the time-invariant model get well above chance
    // (7%), hence the loose upper bound.
    public const double CopyingSelectiveAtLeast = 0.9;
    public const double CopyingTimeInvariantAtMost = 0.65;

    public static readonly TrainingOptions Induction = new()
    {
        TrainLength = 32, BatchSize = 32, Steps = 200, LearningRate = 1e-2, ModelDimension = 32, StateSize = 8,
        EvalSequences = 256, EvalBatchSize = 256, LogEvery = 0,
    };
    // Re-measured 2026-12-01 with seeds 1–8: selective 78.9–100 % (seven of eight at 97.3 % or more; seed 3 78.9 %),
    // time-invariant 7.8–28.1 % (seed 1: 100 / 24.2). Keep the step count: at length 32 the time-invariant model starts
    // to learn the task with more steps (57% on seed 1 after 250).
    public const double InductionSelectiveAtLeast = 0.75;
    public const double InductionTimeInvariantAtMost = 0.45;

    // Multi-query associative recall (AssociativeRecallTests): length 16 holds 4 pairs and exactly 4 query slots;
    // vocabulary 16 (keys 1–7, values 8–15). Width 128 because at width 64 two seeds of eight were still guessing
    // among the sequence's values (about 35%) after 600 steps of batch 128, and width 128 left that plateau on all
    // eight within 300 steps of batch 64 (docs/synthetic-tasks.md).
    public const int RecallVocab = 16;
    public const int RecallPairs = 4;

    public static readonly TrainingOptions Recall = new()
    {
        TrainLength = 16, BatchSize = 64, Steps = 300, LearningRate = 1e-2, Layers = 2, ModelDimension = 128, StateSize = 16,
        EvalSequences = 256, EvalBatchSize = 256, LogEvery = 0,
    };
    // Measured 2026-12-07 with seeds 1–8 (MAMBA_SYNTHETIC_SEED): 48.1, 97.1, 74.1, 87.3, 96.1, 84.1, 77.1, 99.1 %
    // (seed 1, the CI seed, is the lowest; 61.9 % after 400 steps). Guessing one of the sequence's 4 values gives 25 %,
    // a random value 12.5 %. Mamba-2 at the same setting (seeds 1–8): 100, 100, 100, 100, 56.8, 35.6, 100, 33.8 %.
    public const double RecallAtLeast = 0.40;

    // The Mamba-2 row: the same task, width, batch and lr, with state 64 instead of 16 so that both rows have the same
    // parameters (Mamba-2's in_proj also makes B and C, 2 × N outputs, where Mamba-1's x_proj makes them from a rank-8 Δ
    // path: 237,208 parameters at N = 64 against Mamba-1's 235,392 at N = 16; Mamba-2 at N = 16 has 211,672), and 400
    // steps. Measured 2026-12-07 with seeds 1–8, validation accuracy on 128 sequences every 50 steps of a 600-step run
    // (examples/AssociativeRecall --variants mamba2 --state-size 64 --eval-every 50): every seed at 100 % from step 400 on;
    // the last to get there, seed 2, was at 42.0 / 77.5 / 99.0 % at steps 200 / 300 / 350 (seeds 3: 38.7 % at 200, 99.4 % at
    // 250; the others ≥ 96 % by step 150). The test itself (400 steps, 256 test sequences) on seeds 1–8: 100.0, 99.9, 100.0,
    // 100.0, 100.0, 100.0, 100.0, 100.0 % (seed 1, the CI seed: 100.0 %).
    public static readonly TrainingOptions RecallMamba2 = Recall with { Steps = 400, StateSize = 64 };
    public const double RecallMamba2AtLeast = 0.90;
}
