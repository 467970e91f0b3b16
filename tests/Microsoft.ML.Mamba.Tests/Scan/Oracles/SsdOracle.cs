namespace Microsoft.ML.Mamba.Tests.Scan.Oracles;

/// <summary>Gradients of an SSD scan in the inputs' shapes; null for absent inputs.</summary>
internal sealed record SsdGradients(double[,,,] DX, double[,,] DDt, double[] DA, double[,,,] DB, double[,,,] DC,
    double[]? DD, double[]? DDtBias, double[,,,]? DInitial);

/// <summary>
/// Mamba-2's SSD scan (see IMamba2Kernels.StateSpaceDual) as the plainest fp64 loop over (b, h, t, p, n), forward
/// and backward (the adjoint recurrence), independent of TorchSharp: the SSD oracle of the C# tests, against which
/// the reference kernels, the native kernels and the mixer are compared. Shapes: x (b, t, h, p), dt (b, t, h),
/// A, D, dtBias (h), B and C (b, t, g, n), states (b, h, p, n).
/// </summary>
internal sealed class SsdOracle
{
    private readonly double[,,,] _x, _b, _c;
    private readonly double[,,] _dt;
    private readonly double[] _a;
    private readonly double[]? _dSkip, _dtBias;
    private readonly double[,,,]? _initial;
    private readonly bool _softplus;
    private readonly double _dtMin, _dtMax;
    private readonly int _batch, _length, _heads, _headDim, _groups, _state;

    public SsdOracle(double[,,,] x, double[,,] dt, double[] a, double[,,,] bm, double[,,,] cm, double[]? dSkip,
        double[]? dtBias, bool softplus, double[,,,]? initial, double dtMin = 0, double dtMax = double.PositiveInfinity)
    {
        (_x, _dt, _a, _b, _c, _dSkip, _dtBias, _softplus, _initial, _dtMin, _dtMax) =
            (x, dt, a, bm, cm, dSkip, dtBias, softplus, initial, dtMin, dtMax);
        (_batch, _length, _heads, _headDim) = (x.GetLength(0), x.GetLength(1), x.GetLength(2), x.GetLength(3));
        (_groups, _state) = (bm.GetLength(2), bm.GetLength(3));
    }

    /// <summary>Δ after bias, softplus and clamp, and its derivative in Δ's input (0 where the clamp holds).</summary>
    public (double Value, double Derivative) Delta(int b, int t, int h)
    {
        var s = _dt[b, t, h] + (_dtBias?[h] ?? 0);
        var (v, d) = _softplus ? (s <= 20 ? Math.Log(1 + Math.Exp(s)) : s, s <= 20 ? 1 / (1 + Math.Exp(-s)) : 1) : (s, 1.0);
        if (v < _dtMin) (v, d) = (_dtMin, 0);
        if (v > _dtMax) (v, d) = (_dtMax, 0);
        return (v, d);
    }

    /// <summary>y (b, t, h, p) and the final state (b, h, p, n).</summary>
    public (double[,,,] Y, double[,,,] Final) Forward()
    {
        var (y, final, _) = Run(null, null);
        return (y, final);
    }

    /// <summary>Gradients for the upstream gradients dy (like y) and, optionally, dFinal (like the final state).</summary>
    public SsdGradients Backward(double[,,,] dy, double[,,,]? dFinal) => Run(dy, dFinal).Grads!;

    private (double[,,,] Y, double[,,,] Final, SsdGradients? Grads) Run(double[,,,]? dy, double[,,,]? dFinal)
    {
        int B = _batch, L = _length, H = _heads, P = _headDim, G = _groups, N = _state, perGroup = H / G;
        var y = new double[B, L, H, P];
        var final = new double[B, H, P, N];
        var dx = new double[B, L, H, P];
        var ddt = new double[B, L, H];
        var dA = new double[H];
        var dB = new double[B, L, G, N];
        var dC = new double[B, L, G, N];
        var dD = new double[H];
        var dBias = new double[H];
        var dInit = new double[B, H, P, N];
        var states = new double[L + 1, P, N];
        var dtv = new double[L];
        var dtd = new double[L];
        var decay = new double[L];
        var adj = new double[P, N];
        for (var b = 0; b < B; b++)
            for (var h = 0; h < H; h++)
            {
                var g = h / perGroup;
                var skip = _dSkip?[h] ?? 0;
                for (var p = 0; p < P; p++)
                    for (var n = 0; n < N; n++)
                        states[0, p, n] = _initial?[b, h, p, n] ?? 0;
                for (var t = 0; t < L; t++)
                {
                    (dtv[t], dtd[t]) = Delta(b, t, h);
                    decay[t] = Math.Exp(dtv[t] * _a[h]);
                    for (var p = 0; p < P; p++)
                    {
                        double acc = 0;
                        for (var n = 0; n < N; n++)
                        {
                            states[t + 1, p, n] = decay[t] * states[t, p, n] + dtv[t] * _x[b, t, h, p] * _b[b, t, g, n];
                            acc += _c[b, t, g, n] * states[t + 1, p, n];
                        }
                        y[b, t, h, p] = acc + skip * _x[b, t, h, p];
                    }
                }
                for (var p = 0; p < P; p++)
                    for (var n = 0; n < N; n++)
                        final[b, h, p, n] = states[L, p, n];
                if (dy is null) continue;

                // adj = gradient of the state after step t, walking back.
                for (var p = 0; p < P; p++)
                    for (var n = 0; n < N; n++)
                        adj[p, n] = dFinal?[b, h, p, n] ?? 0;
                for (var t = L - 1; t >= 0; t--)
                {
                    double dDecay = 0, dDelta = 0;
                    for (var p = 0; p < P; p++)
                    {
                        var xv = _x[b, t, h, p];
                        var gy = dy[b, t, h, p];
                        dD[h] += gy * xv;
                        var gx = gy * skip;
                        for (var n = 0; n < N; n++)
                        {
                            dC[b, t, g, n] += gy * states[t + 1, p, n];
                            adj[p, n] += gy * _c[b, t, g, n];
                            dDecay += adj[p, n] * states[t, p, n];
                            dDelta += adj[p, n] * xv * _b[b, t, g, n];
                            gx += adj[p, n] * dtv[t] * _b[b, t, g, n];
                            dB[b, t, g, n] += adj[p, n] * dtv[t] * xv;
                            adj[p, n] *= decay[t];
                        }
                        dx[b, t, h, p] = gx;
                    }
                    // decay = exp(dt * A): d/d(dt) = decay * A, d/dA = decay * dt.
                    dDelta += dDecay * decay[t] * _a[h];
                    dA[h] += dDecay * decay[t] * dtv[t];
                    ddt[b, t, h] = dDelta * dtd[t];
                    dBias[h] += dDelta * dtd[t];
                }
                for (var p = 0; p < P; p++)
                    for (var n = 0; n < N; n++)
                        dInit[b, h, p, n] = adj[p, n];
            }
        var grads = dy is null ? null : new SsdGradients(dx, ddt, dA, dB, dC, _dSkip is null ? null : dD,
            _dtBias is null ? null : dBias, _initial is null ? null : dInit);
        return (y, final, grads);
    }
}
