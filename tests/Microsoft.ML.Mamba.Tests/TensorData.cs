using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests;

/// <summary>Moves test data between TorchSharp tensors and plain .NET arrays.</summary>
internal static class TensorData
{
    public static double[] Flat(Tensor t) => t.detach().cpu().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    public static double[,] To2(Tensor t)
    {
        var f = Flat(t); int a = (int)t.shape[0], b = (int)t.shape[1];
        var r = new double[a, b];
        Buffer.BlockCopy(f, 0, r, 0, f.Length * 8);
        return r;
    }

    public static double[,,] To3(Tensor t)
    {
        var f = Flat(t);
        var r = new double[t.shape[0], t.shape[1], t.shape[2]];
        Buffer.BlockCopy(f, 0, r, 0, f.Length * 8);
        return r;
    }

    public static double[,,,] To4(Tensor t)
    {
        var f = Flat(t);
        var r = new double[t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
        Buffer.BlockCopy(f, 0, r, 0, f.Length * 8);
        return r;
    }

    public static double[] Flat(Array a)
    {
        var r = new double[a.Length];
        Buffer.BlockCopy(a, 0, r, 0, a.Length * 8);
        return r;
    }

    /// <summary>Largest |a-b| / (atol + rtol·|b|); ≤ 1 means within tolerance.</summary>
    public static double WorstRatio(double[] actual, double[] expected, double rtol, double atol)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (double.IsNaN(actual[i])) return double.PositiveInfinity;
            double diff = Math.Abs(actual[i] - expected[i]);
            if (diff > 0) worst = Math.Max(worst, diff / (atol + rtol * Math.Abs(expected[i])));
        }
        return worst;
    }

    public static void AssertClose(double[] actual, double[] expected, double rtol, double atol, string what)
    {
        double worst = WorstRatio(actual, expected, rtol, atol);
        Assert.True(worst <= 1, $"{what}: worst error is {worst:F2}× the tolerance (rtol {rtol}, atol {atol})");
    }

    public static void AssertClose(Tensor actual, Tensor expected, double rtol, double atol, string what) =>
        AssertClose(Flat(actual), Flat(expected), rtol, atol, what);
}
