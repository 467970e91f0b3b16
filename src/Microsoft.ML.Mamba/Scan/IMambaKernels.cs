using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The seam between the Mamba-1 mixer (<c>Modeling.MambaMixer</c>) and its kernels: the selective scan and
/// the fused decode step of that family, on top of the operations all families share (<see cref="ISharedKernels"/>).
/// The mixer never cares whether a fused native kernel or the TorchSharp reference runs behind them. Shapes follow
/// mamba_ssm: (batch, channels, length) for sequences, any strides. Every implementation rejects, with an
/// <see cref="ArgumentException"/> naming the argument, wrong shapes, non-floating dtypes, tensors on another device
/// than the main input, and empty tensors (a zero-size axis, batch and length included).
/// </summary>
public interface IMambaKernels : ISharedKernels
{
    /// <summary>
    /// Selective scan. For each batch b, channel d and time t:
    /// dt = softplus?(delta + deltaBias); h = exp(dt·A)·h + dt·B·u; y = C·h + D·u; out = y·silu(z).
    /// </summary>
    /// <param name="u">Input (B, D, L).</param>
    /// <param name="delta">Δ before its bias (B, D, L).</param>
    /// <param name="A">State matrix (D, N), negative.</param>
    /// <param name="B">Input projection (B, N, L), or (B, G, N, L) with D divisible by G.</param>
    /// <param name="C">Output projection, shaped like <paramref name="B"/>.</param>
    /// <param name="D">Skip (D), or null.</param>
    /// <param name="z">Gate (B, D, L), or null for no gate.</param>
    /// <param name="deltaBias">Bias added to Δ (D), or null.</param>
    /// <param name="deltaSoftplus">Whether Δ passes through softplus.</param>
    /// <param name="initialState">State before the first step (B, D, N), or null for zeros.</param>
    /// <param name="returnFinalState">Whether to return the state after the last step (B, D, N), fp32.</param>
    /// <returns>The output (B, D, L) in u's dtype, and the final state when asked for.</returns>
    (Tensor Output, Tensor? FinalState) SelectiveScan(
        Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? deltaBias,
        bool deltaSoftplus, Tensor? initialState = null, bool returnFinalState = false);

    /// <summary>
    /// One decoding step of the mixer, everything between in_proj and out_proj: conv window update, conv and
    /// SiLU, x_proj and dt_proj (the selection), state update, C projection, D skip and SiLU(z) gate.
    /// </summary>
    /// <param name="x">The conv input half of in_proj's output for the new token (batch, E); views are fine.</param>
    /// <param name="z">The gate half (batch, E), or null for an ungated mixer.</param>
    /// <param name="convState">(batch, E, W), oldest input first; updated in place.</param>
    /// <param name="ssmState">(batch, E, N) fp32; updated in place.</param>
    /// <param name="weights">The mixer's parameters the step reads.</param>
    /// <returns>(batch, E) in x's dtype, for out_proj.</returns>
    Tensor DecodeStep(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights weights);
}
