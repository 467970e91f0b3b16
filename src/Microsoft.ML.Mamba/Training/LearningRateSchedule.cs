namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// Linear warm-up to the peak learning rate, then the chosen decay to <see cref="Floor"/> × peak at the last step
/// (or when a time limit runs out, whichever comes first).
/// </summary>
internal sealed class LearningRateSchedule
{
    /// <summary>Creates a schedule over <paramref name="totalSteps"/> optimisation steps, warming up for a share of them.</summary>
    public LearningRateSchedule(double peak, int totalSteps, double warmupFraction, LearningRateDecay decay)
        : this(peak, totalSteps, WarmupStepsOf(totalSteps, warmupFraction), decay) { }

    /// <summary>Creates a schedule over <paramref name="totalSteps"/> optimisation steps.</summary>
    /// <param name="peak">The largest learning rate, reached at the end of warm-up.</param>
    /// <param name="totalSteps">Optimisation steps planned.</param>
    /// <param name="warmupSteps">Steps of linear warm-up.</param>
    /// <param name="decay">The decay after warm-up.</param>
    /// <param name="floor">Where the decay ends, as a share of <paramref name="peak"/> (0 = decays to zero).</param>
    public LearningRateSchedule(double peak, int totalSteps, int warmupSteps, LearningRateDecay decay, double floor = 0)
    {
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "must be at least 1.");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "must not be negative.");
        if (!(floor >= 0 && floor <= 1)) throw new ArgumentOutOfRangeException(nameof(floor), floor, "must be in [0, 1].");
        Peak = peak; TotalSteps = totalSteps; WarmupSteps = warmupSteps; Decay = decay; Floor = floor;
    }

    /// <summary>
    /// The schedule of a run planned as <paramref name="epochs"/> passes of <paramref name="stepsPerEpoch"/> steps, with
    /// a warm-up of <paramref name="warmupFraction"/> of the steps of at most <see cref="WarmupHorizonEpochs"/> epochs: planning
    /// more epochs (for early stopping to cut short) does not stretch the warm-up, so the epochs early stopping keeps
    /// train at the same rates whatever the plan. The decay spans the planned steps.
    /// </summary>
    public static LearningRateSchedule ForEpochs(double peak, int stepsPerEpoch, int epochs, double warmupFraction, LearningRateDecay decay)
    {
        int total = stepsPerEpoch * epochs;
        return new(peak, total, WarmupStepsOf(stepsPerEpoch * Math.Min(epochs, WarmupHorizonEpochs), warmupFraction), decay);
    }

    /// <summary>The most epochs whose steps <see cref="ForEpochs"/> counts its warm-up share of.</summary>
    public const int WarmupHorizonEpochs = 3;

    /// <summary>A learning rate that never changes (no warm-up, no decay).</summary>
    public static LearningRateSchedule Constant(double learningRate) => new(learningRate, 1, 0, LearningRateDecay.Constant);

    /// <summary>Warm-up steps for a share of <paramref name="totalSteps"/>, rounded to the nearest step.</summary>
    public static int WarmupStepsOf(int totalSteps, double warmupFraction) => (int)Math.Round(totalSteps * warmupFraction);

    /// <summary>The largest learning rate.</summary>
    public double Peak { get; }
    /// <summary>Number of optimisation steps planned.</summary>
    public int TotalSteps { get; }
    /// <summary>Steps of linear warm-up.</summary>
    public int WarmupSteps { get; }
    /// <summary>The decay after warm-up.</summary>
    public LearningRateDecay Decay { get; }
    /// <summary>Where the decay ends, as a share of <see cref="Peak"/>.</summary>
    public double Floor { get; }

    /// <summary>Learning rate for the zero-based <paramref name="step"/>.</summary>
    /// <param name="step">Zero-based optimisation step.</param>
    /// <param name="timeProgress">Share of a time limit used so far (0 without one): the decay follows whichever of
    /// steps and time runs out first, so a run cut short by its time limit still anneals.</param>
    public double At(int step, double timeProgress = 0)
    {
        // Warm-up counts from 1 so the first step already moves the weights.
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        int decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp(Math.Max((double)(step - WarmupSteps) / decaySteps, timeProgress), 0, 1);
        return (Decay, Floor) switch
        {
            (LearningRateDecay.Cosine, 0) => Peak * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            (LearningRateDecay.Cosine, _) => Peak * (Floor + (1 - Floor) * 0.5 * (1 + Math.Cos(Math.PI * progress))),
            (LearningRateDecay.Linear, 0) => Peak * (1 - progress),
            (LearningRateDecay.Linear, _) => Peak * (Floor + (1 - Floor) * (1 - progress)),
            _ => Peak,
        };
    }
}
