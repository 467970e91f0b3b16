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
    /// softmax(logits / T) (one logit per row: sigmoid, targets 0/1; several: class index).
    /// </summary>
    public static double Fit(IReadOnlyList<float[]> logits, IReadOnlyList<float> targets)
    {
        if (logits.Count == 0) return 1;
        // The NLL is convex in 1/T, so unimodal in log T: a golden-section search on log T over [Min, Max] finds it
        // to within 1e-6 relative in 60 steps, with no gradients to get wrong.
        double lo = Math.Log(Min), hi = Math.Log(Max);
        double phi = (Math.Sqrt(5) - 1) / 2;
        double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
        double fa = Loss(logits, targets, Math.Exp(a)), fb = Loss(logits, targets, Math.Exp(b));
        for (int i = 0; i < 60; i++)
        {
            if (fa <= fb) { hi = b; b = a; fb = fa; a = hi - phi * (hi - lo); fa = Loss(logits, targets, Math.Exp(a)); }
            else { lo = a; a = b; fa = fb; b = lo + phi * (hi - lo); fb = Loss(logits, targets, Math.Exp(b)); }
        }
        return Math.Exp((lo + hi) / 2);
    }

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
