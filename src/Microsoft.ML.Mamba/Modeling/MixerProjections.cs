using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>What both mixers' <see cref="IMixer.InitialiseWeights"/> do to their in_proj and out_proj.</summary>
internal static class MixerProjections
{
    /// <summary>
    /// mamba_ssm's _init_weights for a mixer's projections: their biases zero, and out_proj re-drawn and scaled by
    /// 1/sqrt(<paramref name="numLayers"/>) when <paramref name="rescalePrenormResidual"/>, so the residual stream's
    /// variance does not grow with depth.
    /// </summary>
    public static void Initialise(Linear inProj, Linear outProj, bool rescalePrenormResidual, int numLayers)
    {
        if (numLayers <= 0) throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "must be positive");
        using var _ = no_grad();
        inProj.bias?.zero_();
        outProj.bias?.zero_();
        if (rescalePrenormResidual)
        {
            nn.init.kaiming_uniform_(outProj.weight!, Math.Sqrt(5));
            outProj.weight!.div_(Math.Sqrt(numLayers));
        }
    }
}
