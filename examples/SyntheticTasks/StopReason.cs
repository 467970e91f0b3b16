namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>Why a model's training ended.</summary>
public enum StopReason
{
    /// <summary>All of <see cref="TrainingOptions.Steps"/> were run.</summary>
    AllSteps,
    /// <summary><see cref="TrainingOptions.TimeLimit"/> ran out first.</summary>
    TimeLimit,
    /// <summary>Validation accuracy reached <see cref="TrainingOptions.TargetAccuracy"/> first.</summary>
    TargetAccuracy,
}
