namespace Microsoft.ML.Mamba.LanguageModeling;

/// <summary>Where training stands.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Loss">Mean training loss (nats per token) since the last report.</param>
/// <param name="TokensPerSecond">Training throughput so far.</param>
public sealed record LanguageModelTrainingProgress(int Step, int TotalSteps, double Loss, double TokensPerSecond);
