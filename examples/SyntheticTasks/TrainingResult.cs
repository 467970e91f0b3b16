using System.Globalization;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>A trained model, how far its training got and what it cost.</summary>
/// <param name="Steps">Steps done, counting those of earlier invocations when resumed from a checkpoint; fewer than
/// <paramref name="PlannedSteps"/> when training stopped early.</param>
/// <param name="PlannedSteps">The steps asked for (<see cref="TrainingOptions.Steps"/>).</param>
/// <param name="ValidationAccuracy">The last periodic validation accuracy (fraction), or null if none was measured.</param>
/// <param name="FinalLoss">Mean loss over the last (up to) 50 steps, which is less noisy than the last step's.</param>
/// <param name="TrainTime">Wall time of training in this invocation, periodic validation included.</param>
/// <param name="StepsBefore">Steps already done by earlier invocations (the checkpoint resumed from); 0 for a fresh run.</param>
/// <param name="EarlierTrainTime">Training time of those earlier invocations.</param>
/// <param name="LrDroppedAtStep">The step after which --lr-drop-at lowered the learning rate, or null if it was not lowered.</param>
public sealed record TrainingResult(ModelVariant Variant, MambaForCausalLM Model, int Steps, int PlannedSteps, StopReason StoppedBy,
    double? ValidationAccuracy, double FinalLoss, TimeSpan TrainTime, int StepsBefore = 0, TimeSpan EarlierTrainTime = default,
    int? LrDroppedAtStep = null)
{
    /// <summary>Whether training continued from a checkpoint.</summary>
    public bool Resumed => StepsBefore > 0;

    /// <summary>Steps run by this invocation.</summary>
    public int StepsThisRun => Steps - StepsBefore;

    /// <summary>Training time over all invocations: what the results tables show.</summary>
    public TimeSpan TotalTrainTime => EarlierTrainTime + TrainTime;

    /// <summary>The step at which validation accuracy reached the target, or null if it did not.</summary>
    public int? TargetReachedAtStep => StoppedBy == StopReason.TargetAccuracy ? Steps : null;

    /// <summary>
    /// Short form for a results table, e.g. "31,200 of 400,000 (time limit)", or after a resume
    /// "24,509 + 20,000 = 44,509 of 400,000 (time limit)" (earlier invocations' steps + this one's); with
    /// "; lr lowered after step N" when --lr-drop-at lowered it.
    /// </summary>
    public string StepsCell
    {
        get
        {
            string steps = Resumed ? $"{Count(StepsBefore)} + {Count(StepsThisRun)} = {Count(Steps)}" : Count(Steps);
            string cell = StoppedBy switch
            {
                StopReason.TimeLimit => $"{steps} of {Count(PlannedSteps)} (time limit)",
                StopReason.TargetAccuracy => $"{steps} of {Count(PlannedSteps)} (target reached)",
                _ => steps,
            };
            return LrDroppedAtStep is { } dropped ? $"{cell}; lr lowered after step {Count(dropped)}" : cell;
        }
    }

    /// <summary>
    /// For the log, e.g. "stopped at step 31,200 of 400,000 by the time limit, after 9.0 min", prefixed with
    /// "resumed at step N: " and followed by the total time after a resume.
    /// </summary>
    public string Summary
    {
        get
        {
            string time = RunReport.Duration(TrainTime) + (Resumed ? $" ({RunReport.Duration(TotalTrainTime)} in all)" : "");
            string text = StoppedBy switch
            {
                StopReason.TimeLimit => $"stopped at step {Count(Steps)} of {Count(PlannedSteps)} by the time limit, after {time}",
                StopReason.TargetAccuracy =>
                    $"reached the target at step {Count(Steps)} of {Count(PlannedSteps)} (validation accuracy " +
                    $"{MarkdownTable.Percent(ValidationAccuracy ?? double.NaN)}%), after {time}",
                _ when Resumed => $"trained to step {Count(Steps)} in {time}",
                _ => $"trained all {Count(Steps)} steps in {time}",
            };
            return Resumed ? $"resumed at step {Count(StepsBefore)}: {text}" : text;
        }
    }

    private static string Count(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
