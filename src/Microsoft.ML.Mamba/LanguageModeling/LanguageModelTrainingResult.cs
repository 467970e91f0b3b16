namespace Microsoft.ML.Mamba.LanguageModeling;

/// <summary>What a <see cref="LanguageModelTrainer.Train"/> run did.</summary>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="FinalLoss">Training loss of the last step (nats per token).</param>
/// <param name="Tokens">Training tokens predicted.</param>
/// <param name="TokensPerSecond">Training throughput.</param>
/// <param name="Elapsed">Wall-clock time.</param>
public sealed record LanguageModelTrainingResult(int Steps, double FinalLoss, long Tokens, double TokensPerSecond, TimeSpan Elapsed);
