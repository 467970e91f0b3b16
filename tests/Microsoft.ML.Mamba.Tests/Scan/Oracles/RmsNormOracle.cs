namespace Microsoft.ML.Mamba.Tests.Scan.Oracles;

/// <summary>RMSNorm over the last axis, y = weight · x / sqrt(mean(x²) + eps), in fp64: the one RMSNorm oracle of the C# tests.</summary>
internal static class RmsNormOracle
{
    /// <param name="x">rows of <paramref name="weight"/>.Length values, row after row</param>
    public static double[] Run(double[] x, double[] weight, double eps)
    {
        int size = weight.Length;
        var y = new double[x.Length];
        for (int row = 0; row < x.Length / size; row++)
        {
            double sumSquares = 0;
            for (int i = 0; i < size; i++) sumSquares += x[row * size + i] * x[row * size + i];
            double scale = 1 / Math.Sqrt(sumSquares / size + eps);
            for (int i = 0; i < size; i++) y[row * size + i] = weight[i] * x[row * size + i] * scale;
        }
        return y;
    }
}
