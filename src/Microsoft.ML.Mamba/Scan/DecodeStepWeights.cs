using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The mixer parameters one decoding step reads, as the mixer holds them (E = inner size, N = state size,
/// R = Δ rank, W = conv width). Kernels convert dtypes and shapes as they need.
/// </summary>
/// <param name="ConvWeight">Depthwise conv weight (E, 1, W) or (E, W).</param>
/// <param name="ConvBias">(E), or null.</param>
/// <param name="XProjWeight">x_proj (R + 2N, E): Δ's low-rank input, B and C; null for the time-invariant ablation.</param>
/// <param name="DtProjWeight">dt_proj (E, R).</param>
/// <param name="DtBias">Δ's bias (E), added before softplus, or null.</param>
/// <param name="ALog">(E, N); the state matrix is A = -exp(A_log).</param>
/// <param name="D">Skip (E), or null.</param>
/// <param name="BConstant">Time-invariant ablation only: B (E, N).</param>
/// <param name="CConstant">Time-invariant ablation only: C (E, N).</param>
public sealed record DecodeStepWeights(
    Tensor ConvWeight, Tensor? ConvBias, Tensor? XProjWeight, Tensor DtProjWeight, Tensor? DtBias, Tensor ALog,
    Tensor? D, Tensor? BConstant = null, Tensor? CConstant = null)
{
    /// <summary>Whether Δ, B and C come from the input (true for Mamba; false for the S4-like ablation).</summary>
    public bool Selective => XProjWeight is not null;

    /// <summary>Rank of the Δ projection (R).</summary>
    public long DtRank => DtProjWeight.size(1);
}
