using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// One decoding step of the mixer in plain TorchSharp: the recurrent form of the scan (Gu &amp; Dao 2023,
/// Sec. 3.3), in fp32. It is the fallback for the fused native step and the oracle it is tested against.
/// </summary>
internal static class ReferenceDecodeStep
{
    public static Tensor Run(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights w)
    {
        using var scope = NewDisposeScope();
        var f32 = ScalarType.Float32;
        long batch = x.shape[0], inner = x.shape[1], width = convState.shape[2];

        // Conv: shift the window by one, append the new input (stored in the state's dtype), convolve.
        var window = cat(new[] { convState.narrow(2, 1, width - 1), x.unsqueeze(-1).to_type(convState.dtype) }, 2);
        convState.copy_(window);
        var conv = (window.to_type(f32) * w.ConvWeight.reshape(inner, width).to_type(f32)).sum(-1);
        if (w.ConvBias is not null) conv = TorchScalars.Add(conv, w.ConvBias.to_type(f32));
        var xc = nn.functional.silu(conv);                                       // (batch, E)

        // Selection: Δ, B and C from this token, or the ablation's constants.
        Tensor dt, B, C;
        if (w.XProjWeight is not null)
        {
            long rank = w.DtRank, state = ssmState.shape[2];
            var p = nn.functional.linear(xc, w.XProjWeight.to_type(f32));        // (batch, R + 2N)
            dt = nn.functional.linear(p.narrow(1, 0, rank), w.DtProjWeight.to_type(f32));
            B = p.narrow(1, rank, state).unsqueeze(1);                           // (batch, 1, N)
            C = p.narrow(1, rank + state, state).unsqueeze(1);
        }
        else
        {
            dt = zeros(batch, inner, dtype: f32, device: x.device);
            B = w.BConstant!.to_type(f32).unsqueeze(0);                          // (1, E, N)
            C = w.CConstant!.to_type(f32).unsqueeze(0);
        }
        if (w.DtBias is not null) dt = TorchScalars.Add(dt, w.DtBias.to_type(f32));
        dt = TorchScalars.Softplus(dt);

        var A = -w.ALog.to_type(f32).exp();                                      // (E, N)
        var h = TorchScalars.AddProduct((dt * xc).unsqueeze(-1) * B, (dt.unsqueeze(-1) * A).exp(), ssmState);
        ssmState.copy_(h);
        var y = (h * C).sum(-1);
        if (w.D is not null) y = TorchScalars.Add(y, w.D.to_type(f32) * xc);
        if (z is not null) y = y * nn.functional.silu(z.to_type(f32));
        return y.to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
