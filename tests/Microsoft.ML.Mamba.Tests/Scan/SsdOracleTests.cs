using Microsoft.ML.Mamba.Tests.Scan.Oracles;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The SSD oracle's backward against central finite differences of its own forward.</summary>
public class SsdOracleTests
{
    [Theory]
    [InlineData(true, double.PositiveInfinity)]
    [InlineData(false, double.PositiveInfinity)]
    [InlineData(true, 0.8)]  // the clamp holds some steps: their Δ gradient must be zero
    public void BackwardMatchesFiniteDifferences(bool softplus, double dtMax)
    {
        var rng = new Random(5);
        double R() => rng.NextDouble() - 0.5;
        int B = 2, L = 5, H = 4, P = 3, G = 2, N = 3;
        var x = Fill4(B, L, H, P, R);
        var dt = new double[B, L, H];
        for (var b = 0; b < B; b++) for (var t = 0; t < L; t++) for (var h = 0; h < H; h++) dt[b, t, h] = softplus ? R() : 0.3 + R() / 2;
        var a = Enumerable.Range(0, H).Select(_ => -Math.Exp(R())).ToArray();
        var bm = Fill4(B, L, G, N, R);
        var cm = Fill4(B, L, G, N, R);
        var dSkip = Enumerable.Range(0, H).Select(_ => R()).ToArray();
        var bias = Enumerable.Range(0, H).Select(_ => R()).ToArray();
        var init = Fill4(B, H, P, N, R);
        var dy = Fill4(B, L, H, P, R);
        var dFinal = Fill4(B, H, P, N, R);

        double Loss(double[,,,] x_, double[,,] dt_, double[] a_, double[,,,] b_, double[,,,] c_, double[] d_, double[] bias_, double[,,,] init_)
        {
            var (y, fin) = new SsdOracle(x_, dt_, a_, b_, c_, d_, bias_, softplus, init_, 0, dtMax).Forward();
            double s = 0;
            foreach (var (u, v) in Pairs(y, dy)) s += u * v;
            foreach (var (u, v) in Pairs(fin, dFinal)) s += u * v;
            return s;
        }
        var g = new SsdOracle(x, dt, a, bm, cm, dSkip, bias, softplus, init, 0, dtMax).Backward(dy, dFinal);
        double Fd(Array arr, int i)
        {
            const double e = 1e-6;
            var idx = Index(arr, i);
            var v = (double)arr.GetValue(idx)!;
            arr.SetValue(v + e, idx);
            var plus = Loss(x, dt, a, bm, cm, dSkip, bias, init);
            arr.SetValue(v - e, idx);
            var minus = Loss(x, dt, a, bm, cm, dSkip, bias, init);
            arr.SetValue(v, idx);
            return (plus - minus) / (2 * e);
        }
        void Check(Array input, Array grad, string name)
        {
            for (var i = 0; i < input.Length; i++)
            {
                var fd = Fd(input, i);
                var an = (double)grad.GetValue(Index(grad, i))!;
                Assert.True(Math.Abs(fd - an) <= 1e-6 + 1e-5 * Math.Abs(fd), $"{name}[{i}]: finite difference {fd}, oracle {an}");
            }
        }
        Check(x, g.DX, "x"); Check(dt, g.DDt, "dt"); Check(a, g.DA, "A"); Check(bm, g.DB, "B"); Check(cm, g.DC, "C");
        Check(dSkip, g.DD!, "D"); Check(bias, g.DDtBias!, "dtBias"); Check(init, g.DInitial!, "initial");
        if (dtMax < 1)
            Assert.Contains(Enumerable.Range(0, B * L * H), i => g.DDt[i / (L * H), i / H % L, i % H] == 0);
    }

    private static double[,,,] Fill4(int a, int b, int c, int d, Func<double> r)
    {
        var m = new double[a, b, c, d];
        for (var i = 0; i < a; i++) for (var j = 0; j < b; j++) for (var k = 0; k < c; k++) for (var l = 0; l < d; l++) m[i, j, k, l] = r();
        return m;
    }

    private static int[] Index(Array arr, int flat)
    {
        var idx = new int[arr.Rank];
        for (var r = arr.Rank - 1; r >= 0; r--) { idx[r] = flat % arr.GetLength(r); flat /= arr.GetLength(r); }
        return idx;
    }

    private static IEnumerable<(double, double)> Pairs(Array a, Array b)
    {
        for (var i = 0; i < a.Length; i++) yield return ((double)a.GetValue(Index(a, i))!, (double)b.GetValue(Index(b, i))!);
    }
}
