using Microsoft.ML.Mamba.Scan;

namespace Microsoft.ML.Mamba.Tests.Scan.Oracles;

/// <summary>
/// One Mamba-2 decoding step (the formulas of mamba_ssd_step_args in mamba_native.h) as plain fp64 loops, carrying its
/// own conv and SSM states from step to step: the Mamba-2 decode-step oracle of the C# tests. K = H·P + 2·G·N conv
/// channels, x | B | C.
/// </summary>
internal sealed class SsdStepOracle
{
    private readonly double[] _convWeight, _aLog;
    private readonly double[]? _convBias, _dtBias, _d;
    private readonly int _heads, _headDim, _groups, _state, _width;
    private readonly double _dtMin, _dtMax;

    /// <summary>Conv state [b, k, w], oldest input first; updated by <see cref="Step"/>.</summary>
    public double[,,] Conv { get; }

    /// <summary>SSM state [b, h, p, n]; updated by <see cref="Step"/>.</summary>
    public double[,,,] Ssm { get; }

    public SsdStepOracle(Mamba2StepWeights w, double[,,] conv, double[,,,] ssm)
    {
        static double[]? Opt(TorchSharp.torch.Tensor? t) => t is null ? null : TensorData.Flat(t);
        _convWeight = TensorData.Flat(w.ConvWeight);
        _convBias = Opt(w.ConvBias);
        _dtBias = Opt(w.DtBias);
        _aLog = TensorData.Flat(w.ALog);
        _d = Opt(w.D);
        (_heads, _headDim, _groups, _state) = ((int)w.Heads, (int)w.HeadDim, (int)w.Groups, (int)w.StateSize);
        (_dtMin, _dtMax) = (w.DtMin, w.DtMax);
        (Conv, Ssm) = (conv, ssm);
        _width = conv.GetLength(2);
    }

    /// <summary>One token per sequence: xBC [b, K] and dt [b, H]; returns out [b, H·P].</summary>
    public double[,] Step(double[,] xBC, double[,] dt)
    {
        int batch = xBC.GetLength(0), H = _heads, P = _headDim, G = _groups, N = _state, W = _width;
        int K = H * P + 2 * G * N, perGroup = H / G;
        var output = new double[batch, H * P];
        var v = new double[K];
        for (int b = 0; b < batch; b++)
        {
            for (int k = 0; k < K; k++)
            {
                for (int w = 0; w + 1 < W; w++) Conv[b, k, w] = Conv[b, k, w + 1];
                Conv[b, k, W - 1] = xBC[b, k];
                double s = _convBias?[k] ?? 0;
                for (int w = 0; w < W; w++) s += _convWeight[k * W + w] * Conv[b, k, w];
                v[k] = s / (1 + Math.Exp(-s));
            }
            for (int h = 0; h < H; h++)
            {
                int g = h / perGroup;
                double s = dt[b, h] + (_dtBias?[h] ?? 0);
                double delta = Math.Clamp(s <= 20 ? Math.Log(1 + Math.Exp(s)) : s, _dtMin, _dtMax);
                double decay = Math.Exp(-delta * Math.Exp(_aLog[h]));
                for (int p = 0; p < P; p++)
                {
                    double x = v[h * P + p], acc = 0;
                    for (int n = 0; n < N; n++)
                    {
                        Ssm[b, h, p, n] = decay * Ssm[b, h, p, n] + delta * x * v[H * P + g * N + n];
                        acc += v[H * P + G * N + g * N + n] * Ssm[b, h, p, n];
                    }
                    output[b, h * P + p] = acc + (_d?[h] ?? 0) * x;
                }
            }
        }
        return output;
    }
}
