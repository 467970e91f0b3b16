namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>Where pretraining stands.</summary>
/// <param name="Step">Optimizer steps done (resumed steps included).</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Loss">Mean training loss (nats per token) since the last report.</param>
/// <param name="LearningRate">The learning rate of the last step.</param>
/// <param name="TokensPerSecond">Training tokens per second in this segment of the run.</param>
/// <param name="Tokens">Training tokens seen (resumed segments included).</param>
/// <param name="Elapsed">Training time, resumed segments included.</param>
/// <param name="HeldOutLoss">Set on the report that follows a held-out evaluation: mean loss, whose exponential is the perplexity.</param>
public sealed record PretrainingProgress(int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond, long Tokens,
    TimeSpan Elapsed, double? HeldOutLoss = null);
