using System.Globalization;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>A trained model, how far its training got and what it cost.</summary>
/// <param name="Steps">Steps actually run; fewer than <paramref name="PlannedSteps"/> when training stopped early.</param>
/// <param name="PlannedSteps">The steps asked for (<see cref="TrainingOptions.Steps"/>).</param>
/// <param name="ValidationAccuracy">The last periodic validation accuracy (fraction), or null if none was measured.</param>
/// <param name="FinalLoss">Mean loss over the last (up to) 50 steps, which is less noisy than the last step's.</param>
/// <param name="TrainTime">Wall time of training, periodic validation included.</param>
public sealed record TrainingResult(ModelVariant Variant, MambaForCausalLM Model, int Steps, int PlannedSteps, StopReason StoppedBy,
    double? ValidationAccuracy, double FinalLoss, TimeSpan TrainTime)
{
    /// <summary>The step at which validation accuracy reached the target, or null if it did not.</summary>
    public int? TargetReachedAtStep => StoppedBy == StopReason.TargetAccuracy ? Steps : null;

    /// <summary>Short form for a results table, e.g. "31,200 of 400,000 (time limit)".</summary>
    public string StepsCell => StoppedBy switch
    {
        StopReason.TimeLimit => $"{Count(Steps)} of {Count(PlannedSteps)} (time limit)",
        StopReason.TargetAccuracy => $"{Count(Steps)} of {Count(PlannedSteps)} (target reached)",
        _ => Count(Steps),
    };

    /// <summary>For the log, e.g. "stopped at step 31,200 of 400,000 by the time limit, after 9.0 min".</summary>
    public string Summary => StoppedBy switch
    {
        StopReason.TimeLimit => $"stopped at step {Count(Steps)} of {Count(PlannedSteps)} by the time limit, after {RunReport.Duration(TrainTime)}",
        StopReason.TargetAccuracy =>
            $"reached the target at step {Count(Steps)} of {Count(PlannedSteps)} (validation accuracy " +
            $"{MarkdownTable.Percent(ValidationAccuracy ?? double.NaN)}%), after {RunReport.Duration(TrainTime)}",
        _ => $"trained all {Count(Steps)} steps in {RunReport.Duration(TrainTime)}",
    };

    private static string Count(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
