namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>What a <see cref="Pretrainer.Train"/> run did, resumed segments included.</summary>
/// <param name="Steps">Optimizer steps taken in all.</param>
/// <param name="Tokens">Training tokens seen in all.</param>
/// <param name="FinalTrainLoss">Mean training loss of the last up to 50 steps (nats per token).</param>
/// <param name="FinalHeldOutLoss">Held-out loss at the end; null without held-out data.</param>
/// <param name="TokensPerSecond">Training throughput of this segment.</param>
/// <param name="Elapsed">Training time in all.</param>
/// <param name="ResumedFromStep">The checkpoint's step this segment started from; 0 for a fresh run.</param>
/// <param name="StopReason">Why training ended: "steps", "time limit".</param>
public sealed record PretrainingResult(int Steps, long Tokens, double FinalTrainLoss, double? FinalHeldOutLoss, double TokensPerSecond,
    TimeSpan Elapsed, int ResumedFromStep, string StopReason)
{
    /// <summary>exp(held-out loss): the held-out perplexity per token.</summary>
    public double? HeldOutPerplexity => FinalHeldOutLoss is double l ? Math.Exp(l) : null;
}
