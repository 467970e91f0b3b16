using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The Mamba-2 mixer parameters one decoding step reads, as the mixer holds them (H heads of P channels, G groups,
/// N state size, W conv width, K = H·P + 2·G·N conv channels). Kernels convert dtypes and shapes as they need.
/// </summary>
/// <param name="Heads">H.</param>
/// <param name="HeadDim">P.</param>
/// <param name="Groups">G, the number of B and C groups.</param>
/// <param name="StateSize">N.</param>
/// <param name="ConvWeight">Depthwise conv weight (K, 1, W) or (K, W).</param>
/// <param name="ConvBias">(K), or null.</param>
/// <param name="DtBias">Δ's bias (H), added before softplus, or null.</param>
/// <param name="ALog">(H); the decay is A = -exp(A_log).</param>
/// <param name="D">Skip (H), or null.</param>
/// <param name="DtMin">Lower clamp of Δ after softplus (0 for none).</param>
/// <param name="DtMax">Upper clamp of Δ after softplus (infinity for none).</param>
public sealed record Mamba2StepWeights(
    long Heads, long HeadDim, long Groups, long StateSize, Tensor ConvWeight, Tensor? ConvBias, Tensor? DtBias,
    Tensor ALog, Tensor? D, double DtMin = 0.0, double DtMax = double.PositiveInfinity);
