namespace Microsoft.ML.Mamba.Training;

/// <summary>Why <see cref="TrainingLoop.Run"/> ended.</summary>
internal enum TrainingStopReason
{
    /// <summary>All planned steps (or epochs) were run.</summary>
    AllSteps,
    /// <summary>The time limit ran out first.</summary>
    TimeLimit,
    /// <summary>Validation did not improve for the patience.</summary>
    EarlyStopping,
    /// <summary>The validation function asked to stop.</summary>
    ValidationRequest,
}
