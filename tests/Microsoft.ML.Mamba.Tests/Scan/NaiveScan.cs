namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// The selective scan written as the plainest possible fp64 loop over (b, d, t, n), independent of
/// TorchSharp: the oracle for every kernel test.
/// </summary>
internal static class NaiveScan
{
    /// <param name="u">[b, d, t]</param>
    /// <param name="bm">[b, g, n, t]</param>
    /// <returns>Output [b, d, t] and final state [b, d, n].</returns>
    public static (double[,,] Output, double[,,] Final) Run(
        double[,,] u, double[,,] delta, double[,] a, double[,,,] bm, double[,,,] cm,
        double[]? dSkip, double[,,]? z, double[]? deltaBias, bool softplus, double[,,]? initial)
    {
        int batch = u.GetLength(0), dim = u.GetLength(1), length = u.GetLength(2), state = a.GetLength(1);
        int groups = bm.GetLength(1), perGroup = dim / groups;
        var output = new double[batch, dim, length];
        var final = new double[batch, dim, state];
        for (int b = 0; b < batch; b++)
        for (int d = 0; d < dim; d++)
        {
            var h = new double[state];
            if (initial is not null) for (int n = 0; n < state; n++) h[n] = initial[b, d, n];
            int g = d / perGroup;
            for (int t = 0; t < length; t++)
            {
                double dt = delta[b, d, t] + (deltaBias?[d] ?? 0);
                if (softplus) dt = dt > 20 ? dt : Math.Log(1 + Math.Exp(dt));
                double y = 0;
                for (int n = 0; n < state; n++)
                {
                    h[n] = Math.Exp(dt * a[d, n]) * h[n] + dt * bm[b, g, n, t] * u[b, d, t];
                    y += cm[b, g, n, t] * h[n];
                }
                if (dSkip is not null) y += dSkip[d] * u[b, d, t];
                if (z is not null) y *= z[b, d, t] / (1 + Math.Exp(-z[b, d, t]));
                output[b, d, t] = y;
            }
            for (int n = 0; n < state; n++) final[b, d, n] = h[n];
        }
        return (output, final);
    }

    /// <summary>Causal depthwise conv1d: out[b,d,t] = act(bias + Σ_k w[d,k]·x[b,d,t-W+1+k]).</summary>
    public static double[,,] Conv(double[,,] x, double[,] w, double[]? bias, bool silu)
    {
        int batch = x.GetLength(0), dim = x.GetLength(1), length = x.GetLength(2), width = w.GetLength(1);
        var y = new double[batch, dim, length];
        for (int b = 0; b < batch; b++)
        for (int d = 0; d < dim; d++)
        for (int t = 0; t < length; t++)
        {
            double s = bias?[d] ?? 0;
            for (int k = 0; k < width; k++)
            {
                int src = t - width + 1 + k;
                if (src >= 0) s += w[d, k] * x[b, d, src];
            }
            y[b, d, t] = silu ? s / (1 + Math.Exp(-s)) : s;
        }
        return y;
    }
}
