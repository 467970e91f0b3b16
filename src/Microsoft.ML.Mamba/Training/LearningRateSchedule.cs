namespace Microsoft.ML.Mamba.Training;

/// <summary>Linear warm-up to the peak learning rate, then the chosen decay to zero.</summary>
public sealed class LearningRateSchedule
{
    /// <summary>Creates a schedule over <paramref name="totalSteps"/> optimisation steps.</summary>
    public LearningRateSchedule(double peak, int totalSteps, double warmupFraction, LearningRateDecay decay)
    {
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps));
        Peak = peak; TotalSteps = totalSteps; Decay = decay;
        WarmupSteps = (int)Math.Round(totalSteps * warmupFraction);
    }

    /// <summary>The largest learning rate.</summary>
    public double Peak { get; }
    /// <summary>Number of optimisation steps planned.</summary>
    public int TotalSteps { get; }
    /// <summary>Steps of linear warm-up.</summary>
    public int WarmupSteps { get; }
    /// <summary>The decay after warm-up.</summary>
    public LearningRateDecay Decay { get; }

    /// <summary>Learning rate for the zero-based <paramref name="step"/>.</summary>
    public double At(int step)
    {
        // Warm-up counts from 1 so the first step already moves the weights.
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        int decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        return Decay switch
        {
            LearningRateDecay.Cosine => Peak * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            LearningRateDecay.Linear => Peak * (1 - progress),
            _ => Peak,
        };
    }
}
