using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>A trained model and what its training cost.</summary>
/// <param name="FinalLoss">Mean loss over the last (up to) 50 steps, which is less noisy than the last step's.</param>
public sealed record TrainingResult(ModelVariant Variant, MambaForCausalLM Model, int Steps, double FinalLoss, TimeSpan TrainTime);
