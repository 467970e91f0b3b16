namespace Microsoft.ML.Mamba.Training;

/// <summary>What <see cref="TrainingLoop"/> tells <see cref="TrainingLoopOptions.OnStep"/> after a step.</summary>
/// <param name="Step">One-based step over the whole run.</param>
/// <param name="Epoch">One-based pass over the batch source.</param>
/// <param name="LearningRate">The learning rate the step used.</param>
/// <param name="Validation">The metric of a validation made after this step, or null when none was.</param>
/// <param name="IsLast">True when training ends after this step (all steps done, or a stop).</param>
internal readonly record struct TrainingStep(int Step, int Epoch, double LearningRate, double? Validation, bool IsLast);
