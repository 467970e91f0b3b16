using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan.Oracles;

/// <summary>Gradients of a selective scan, in the inputs' shapes (B and C as (b, g, n, t)); null for absent inputs.</summary>
internal sealed record ScanGradients(double[,,] DU, double[,,] DDelta, double[,] DA, double[,,,] DB, double[,,,] DC,
    double[]? DD, double[,,]? DZ, double[]? DDeltaBias, double[,,]? DInitial);

/// <summary>
/// The selective scan as the plainest fp64 loop over (b, d, t, n), forward and backward (the adjoint recurrence),
/// independent of TorchSharp: the one scan oracle of the C# tests. The product's ReferenceKernels and every native
/// kernel are compared with it.
/// </summary>
internal sealed class ScanOracle
{
    private readonly double[,,] _u, _delta;
    private readonly double[,] _a;
    private readonly double[,,,] _b, _c;
    private readonly double[]? _dSkip, _deltaBias;
    private readonly double[,,]? _z, _initial;
    private readonly bool _softplus;
    private readonly int _batch, _dim, _length, _state, _groups;

    /// <param name="u">[b, d, t]</param>
    /// <param name="a">[d, n]</param>
    /// <param name="bm">[b, g, n, t]</param>
    /// <param name="initial">[b, d, n]</param>
    public ScanOracle(double[,,] u, double[,,] delta, double[,] a, double[,,,] bm, double[,,,] cm,
        double[]? dSkip, double[,,]? z, double[]? deltaBias, bool softplus, double[,,]? initial)
    {
        (_u, _delta, _a, _b, _c, _dSkip, _z, _deltaBias, _softplus, _initial) = (u, delta, a, bm, cm, dSkip, z, deltaBias, softplus, initial);
        (_batch, _dim, _length, _state, _groups) = (u.GetLength(0), u.GetLength(1), u.GetLength(2), a.GetLength(1), bm.GetLength(1));
    }

    /// <summary>The oracle of a test case's values (B and C of (b, n, t) are one group).</summary>
    public static ScanOracle Of(ScanCase c)
    {
        static double[,,,] Four(Tensor m) => TensorData.To4(m.dim() == 3 ? m.unsqueeze(1) : m);
        return new ScanOracle(TensorData.To3(c.U), TensorData.To3(c.Delta), TensorData.To2(c.A), Four(c.B), Four(c.C),
            c.D is null ? null : TensorData.Flat(c.D), c.Z is null ? null : TensorData.To3(c.Z),
            c.DeltaBias is null ? null : TensorData.Flat(c.DeltaBias), c.Softplus, c.Initial is null ? null : TensorData.To3(c.Initial));
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private double RawDt(int b, int d, int t) => _delta[b, d, t] + (_deltaBias?[d] ?? 0);
    private double Dt(double raw) => !_softplus ? raw : raw > 20 ? raw : Math.Log(1 + Math.Exp(raw));

    /// <summary>States h[t, n] of row (b, d) after each step, and y[t] before the gate.</summary>
    private (double[,] H, double[] Y) Row(int b, int d)
    {
        int g = d / (_dim / _groups);
        var hs = new double[_length, _state];
        var ys = new double[_length];
        var h = new double[_state];
        if (_initial is not null) for (int n = 0; n < _state; n++) h[n] = _initial[b, d, n];
        for (int t = 0; t < _length; t++)
        {
            double dt = Dt(RawDt(b, d, t)), y = (_dSkip?[d] ?? 0) * _u[b, d, t];
            for (int n = 0; n < _state; n++)
            {
                h[n] = Math.Exp(dt * _a[d, n]) * h[n] + dt * _b[b, g, n, t] * _u[b, d, t];
                hs[t, n] = h[n];
                y += _c[b, g, n, t] * h[n];
            }
            ys[t] = y;
        }
        return (hs, ys);
    }

    /// <returns>Output [b, d, t] and final state [b, d, n].</returns>
    public (double[,,] Output, double[,,] Final) Forward()
    {
        var output = new double[_batch, _dim, _length];
        var final = new double[_batch, _dim, _state];
        for (int b = 0; b < _batch; b++)
        for (int d = 0; d < _dim; d++)
        {
            var (hs, ys) = Row(b, d);
            for (int t = 0; t < _length; t++)
                output[b, d, t] = _z is null ? ys[t] : ys[t] * _z[b, d, t] * Sigmoid(_z[b, d, t]);
            for (int n = 0; n < _state; n++) final[b, d, n] = _length == 0 ? (_initial?[b, d, n] ?? 0) : hs[_length - 1, n];
        }
        return (output, final);
    }

    /// <summary>Gradients of sum(output * dOut) + sum(final * dFinal).</summary>
    public ScanGradients Backward(double[,,] dOut, double[,,]? dFinal)
    {
        var r = new ScanGradients(new double[_batch, _dim, _length], new double[_batch, _dim, _length], new double[_dim, _state],
            new double[_batch, _groups, _state, _length], new double[_batch, _groups, _state, _length],
            _dSkip is null ? null : new double[_dim], _z is null ? null : new double[_batch, _dim, _length],
            _deltaBias is null ? null : new double[_dim], _initial is null ? null : new double[_batch, _dim, _state]);
        var adj = new double[_state];   // d loss / d h[t], carried backwards in time
        for (int b = 0; b < _batch; b++)
        for (int d = 0; d < _dim; d++)
        {
            int g = d / (_dim / _groups);
            var (hs, ys) = Row(b, d);
            for (int n = 0; n < _state; n++) adj[n] = dFinal?[b, d, n] ?? 0;
            for (int t = _length - 1; t >= 0; t--)
            {
                double u = _u[b, d, t], raw = RawDt(b, d, t), dt = Dt(raw), dy = dOut[b, d, t];
                if (_z is not null)
                {
                    double z = _z[b, d, t], s = Sigmoid(z);
                    r.DZ![b, d, t] = dy * ys[t] * s * (1 + z * (1 - s));
                    dy *= z * s;
                }
                if (r.DD is not null) r.DD[d] += dy * u;
                double du = (_dSkip?[d] ?? 0) * dy, ddt = 0;
                for (int n = 0; n < _state; n++)
                {
                    double hPrev = t > 0 ? hs[t - 1, n] : _initial?[b, d, n] ?? 0, decay = Math.Exp(dt * _a[d, n]);
                    r.DC[b, g, n, t] += dy * hs[t, n];
                    adj[n] += dy * _c[b, g, n, t];
                    r.DA[d, n] += adj[n] * hPrev * decay * dt;
                    ddt += adj[n] * (hPrev * decay * _a[d, n] + _b[b, g, n, t] * u);
                    r.DB[b, g, n, t] += adj[n] * dt * u;
                    du += adj[n] * dt * _b[b, g, n, t];
                    adj[n] *= decay;
                }
                r.DU[b, d, t] = du;
                r.DDelta[b, d, t] = ddt * (!_softplus ? 1 : raw > 20 ? 1 : Sigmoid(raw));
                if (r.DDeltaBias is not null) r.DDeltaBias[d] += r.DDelta[b, d, t];
            }
            if (r.DInitial is not null) for (int n = 0; n < _state; n++) r.DInitial[b, d, n] = adj[n];
        }
        return r;
    }
}
