namespace Microsoft.ML.Mamba.Tests.Scan.Oracles;

/// <summary>
/// Causal depthwise conv1d, out[b,d,t] = act(bias + Σ_k w[d,k]·x[b,d,t-W+1+k]) (x before t = 0 is 0), as a plain
/// fp64 loop, forward and backward: the one conv oracle of the C# tests.
/// </summary>
internal static class ConvOracle
{
    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    private static double PreActivation(double[,,] x, double[,] w, double[]? bias, int b, int d, int t)
    {
        int width = w.GetLength(1);
        double s = bias?[d] ?? 0;
        for (int k = 0; k < width; k++)
        {
            int src = t - width + 1 + k;
            if (src >= 0) s += w[d, k] * x[b, d, src];
        }
        return s;
    }

    public static double[,,] Forward(double[,,] x, double[,] w, double[]? bias, bool silu)
    {
        int batch = x.GetLength(0), dim = x.GetLength(1), length = x.GetLength(2);
        var y = new double[batch, dim, length];
        for (int b = 0; b < batch; b++)
        for (int d = 0; d < dim; d++)
        for (int t = 0; t < length; t++)
        {
            double s = PreActivation(x, w, bias, b, d, t);
            y[b, d, t] = silu ? s * Sigmoid(s) : s;
        }
        return y;
    }

    /// <summary>Gradients of sum(out * dOut) with respect to x, w and bias.</summary>
    public static (double[,,] DX, double[,] DW, double[] DBias) Backward(double[,,] x, double[,] w, double[]? bias, bool silu,
        double[,,] dOut)
    {
        int batch = x.GetLength(0), dim = x.GetLength(1), length = x.GetLength(2), width = w.GetLength(1);
        var dx = new double[batch, dim, length];
        var dw = new double[dim, width];
        var db = new double[dim];
        for (int b = 0; b < batch; b++)
        for (int d = 0; d < dim; d++)
        for (int t = 0; t < length; t++)
        {
            double s = PreActivation(x, w, bias, b, d, t), sg = Sigmoid(s);
            double dPre = dOut[b, d, t] * (silu ? sg * (1 + s * (1 - sg)) : 1);
            db[d] += dPre;
            for (int k = 0; k < width; k++)
            {
                int src = t - width + 1 + k;
                if (src < 0) continue;
                dw[d, k] += dPre * x[b, d, src];
                dx[b, d, src] += dPre * w[d, k];
            }
        }
        return (dx, dw, db);
    }
}
