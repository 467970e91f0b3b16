namespace Microsoft.ML.Mamba.Training;

/// <summary>What a validation function returns to <see cref="TrainingLoop"/>.</summary>
/// <param name="Metric">The validation loss or accuracy (see <see cref="TrainingLoopOptions.HigherIsBetter"/>).</param>
/// <param name="Stop">True to end training after this step (a target reached).</param>
internal readonly record struct ValidationResult(double Metric, bool Stop = false);
