using Microsoft.ML.Mamba.Scan;

namespace Microsoft.ML.Mamba.Tests.Scan.Oracles;

/// <summary>
/// One fused decoding step (the formulas of mamba_step_args in mamba_native.h) as plain fp64 loops, carrying its own
/// conv and SSM states from step to step: the one decode-step oracle of the C# tests. Selective mixers only (the
/// x_proj path).
/// </summary>
internal sealed class DecodeStepOracle
{
    private readonly double[] _convWeight, _xProj, _dtProj, _aLog;
    private readonly double[]? _convBias, _dtBias, _d;
    private readonly int _inner, _state, _rank, _width;

    /// <summary>Conv state [b, e, k], oldest input first; updated by <see cref="Step"/>.</summary>
    public double[,,] Conv { get; }

    /// <summary>SSM state [b, e, n]; updated by <see cref="Step"/>.</summary>
    public double[,,] Ssm { get; }

    public DecodeStepOracle(DecodeStepWeights w, double[,,] conv, double[,,] ssm)
    {
        static double[]? Opt(TorchSharp.torch.Tensor? t) => t is null ? null : TensorData.Flat(t);
        _convWeight = TensorData.Flat(w.ConvWeight);
        _convBias = Opt(w.ConvBias);
        _xProj = TensorData.Flat(w.XProjWeight!);
        _dtProj = TensorData.Flat(w.DtProjWeight);
        _dtBias = Opt(w.DtBias);
        _aLog = TensorData.Flat(w.ALog);
        _d = Opt(w.D);
        (Conv, Ssm) = (conv, ssm);
        (_inner, _width, _state) = (conv.GetLength(1), conv.GetLength(2), ssm.GetLength(2));
        _rank = (int)w.DtProjWeight.shape[1];
    }

    private static double Silu(double v) => v / (1 + Math.Exp(-v));

    /// <summary>One token per sequence: x and z are [b, e] (z null: no gate); returns out [b, e].</summary>
    public double[,] Step(double[,] x, double[,]? z)
    {
        int batch = x.GetLength(0), E = _inner, N = _state, R = _rank, W = _width, J = R + 2 * N;
        var output = new double[batch, E];
        var xc = new double[E];
        var p = new double[J];
        for (int b = 0; b < batch; b++)
        {
            for (int e = 0; e < E; e++)
            {
                for (int k = 0; k + 1 < W; k++) Conv[b, e, k] = Conv[b, e, k + 1];
                Conv[b, e, W - 1] = x[b, e];
                double pre = _convBias?[e] ?? 0;
                for (int k = 0; k < W; k++) pre += _convWeight[e * W + k] * Conv[b, e, k];
                xc[e] = Silu(pre);
            }
            for (int j = 0; j < J; j++)
            {
                double s = 0;
                for (int e = 0; e < E; e++) s += _xProj[j * E + e] * xc[e];
                p[j] = s;
            }
            for (int e = 0; e < E; e++)
            {
                double dt = _dtBias?[e] ?? 0;
                for (int r = 0; r < R; r++) dt += _dtProj[e * R + r] * p[r];
                dt = dt > 20 ? dt : Math.Log(1 + Math.Exp(dt));
                double y = (_d?[e] ?? 0) * xc[e];
                for (int n = 0; n < N; n++)
                {
                    Ssm[b, e, n] = Math.Exp(-dt * Math.Exp(_aLog[e * N + n])) * Ssm[b, e, n] + dt * p[R + n] * xc[e];
                    y += p[R + N + n] * Ssm[b, e, n];
                }
                output[b, e] = z is null ? y : y * Silu(z[b, e]);
            }
        }
        return output;
    }
}
