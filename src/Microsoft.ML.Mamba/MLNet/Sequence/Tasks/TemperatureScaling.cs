namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one scalar T, fitted on held-out
/// rows after training, divides the classifier's logits so that its probabilities match how often it is right. A
/// fine-tuned network that overfits is over-confident on the rows it gets wrong, which log-loss punishes hard; dividing
/// every logit by one positive number changes no predicted label, no ranking and no AUC.
/// </summary>
internal static class TemperatureScaling
{
    /// <summary>Smallest and largest temperature fitted (and accepted from a saved model).</summary>
    public const double Min = 1e-2, Max = 1e2;

    /// <summary>
    /// The temperature minimising the mean negative log-likelihood of <paramref name="targets"/> under
    /// softmax(logits / T) (one logit per row: sigmoid, targets 0/1; several: class index), plus a weak prior.
    /// </summary>
    /// <remarks>
    /// Without the prior, a validation set the network gets entirely right (small ones often are) drives T to its lower
    /// bound: every probability becomes 0 or 1, and the first wrong answer on new rows costs log-loss without limit. The
    /// prior is a standard normal on log T centred on T = 1, weighed as in a MAP estimate: (log T)² / 2 over the whole
    /// set, so it moves T noticeably only when the validation rows are few or perfectly separated.
    /// </remarks>
    public static double Fit(IReadOnlyList<float[]> logits, IReadOnlyList<float> targets)
    {
        if (logits.Count == 0) return 1;
        double Objective(double logT) => Penalized(logits, targets, Math.Exp(logT));
        // The NLL is convex in 1/T and the prior convex in log T: a golden-section search on log T over [Min, Max]
        // finds the minimum to within 1e-6 relative in 60 steps, with no gradients to get wrong.
        double lo = Math.Log(Min), hi = Math.Log(Max);
        double phi = (Math.Sqrt(5) - 1) / 2;
        double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
        double fa = Objective(a), fb = Objective(b);
        for (int i = 0; i < 60; i++)
        {
            if (fa <= fb) { hi = b; b = a; fb = fa; a = hi - phi * (hi - lo); fa = Objective(a); }
            else { lo = a; a = b; fa = fb; b = lo + phi * (hi - lo); fb = Objective(b); }
        }
        return Math.Exp((lo + hi) / 2);
    }

    /// <summary>What <see cref="Fit"/> minimises: <see cref="Loss"/> plus the prior on log T, per row.</summary>
    public static double Penalized(IReadOnlyList<float[]> logits, IReadOnlyList<float> targets, double t) =>
        Loss(logits, targets, t) + Math.Log(t) * Math.Log(t) / (2.0 * logits.Count);

    /// <summary>Mean negative log-likelihood (nats) at temperature <paramref name="t"/>.</summary>
    public static double Loss(IReadOnlyList<float[]> logits, IReadOnlyList<float> targets, double t)
    {
        double sum = 0;
        for (int r = 0; r < logits.Count; r++)
        {
            var z = logits[r];
            if (z.Length == 1)
            {
                // -log sigmoid(s) for the true side, written to stay finite for large |s|.
                double s = z[0] / t * (targets[r] > 0.5f ? 1 : -1);
                sum += s > 0 ? Math.Log(1 + Math.Exp(-s)) : -s + Math.Log(1 + Math.Exp(s));
            }
            else
            {
                double max = double.NegativeInfinity;
                foreach (var v in z) max = Math.Max(max, v / t);
                double total = 0;
                foreach (var v in z) total += Math.Exp(v / t - max);
                sum += max + Math.Log(total) - z[(int)targets[r]] / t;
            }
        }
        return sum / logits.Count;
    }
}
