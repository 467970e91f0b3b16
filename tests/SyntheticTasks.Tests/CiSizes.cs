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
}
