using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The seam between the Mamba-2 mixer and its kernels: the state space dual (SSD) scan and the fused decode step
/// of that family (Dao &amp; Gu 2024), on top of the operations all families share (<see cref="ISharedKernels"/>).
/// Shapes follow mamba_ssm's <c>mamba_chunk_scan_combined</c>: (batch, length, heads, head_dim) for sequences,
/// any strides. Every implementation rejects, with an <see cref="ArgumentException"/> naming the argument, wrong
/// shapes, non-floating dtypes, tensors on another device than <c>x</c>, and empty tensors.
/// </summary>
public interface IMamba2Kernels : ISharedKernels
{
    /// <summary>
    /// The SSD scan. For each batch b, head h (group g = h / (H / G)), channel p and time t:
    /// dt = clamp(softplus?(dt + dtBias), dtLimit); state = exp(dt·A[h])·state + dt·x·B; y = C·state + D[h]·x.
    /// Differentiable in every tensor argument.
    /// </summary>
    /// <param name="x">Input (B, L, H, P).</param>
    /// <param name="dt">Δ before its bias (B, L, H).</param>
    /// <param name="A">Decay per head (H), negative (-exp(A_log)).</param>
    /// <param name="B">Input projection (B, L, G, N), H divisible by G.</param>
    /// <param name="C">Output projection, shaped like <paramref name="B"/>.</param>
    /// <param name="D">Skip per head (H), or null.</param>
    /// <param name="dtBias">Bias added to Δ (H), or null.</param>
    /// <param name="dtSoftplus">Whether Δ passes through softplus.</param>
    /// <param name="dtMin">Lower clamp of Δ after softplus (0 for none).</param>
    /// <param name="dtMax">Upper clamp of Δ after softplus (<see cref="double.PositiveInfinity"/> for none).</param>
    /// <param name="chunkSize">Chunk length of the chunked form; changes rounding only, never the result's meaning.</param>
    /// <param name="initialState">State before the first step (B, H, P, N), or null for zeros.</param>
    /// <param name="returnFinalState">Whether to return the state after the last step (B, H, P, N), fp32.</param>
    /// <returns>y (B, L, H, P) in x's dtype, and the final state when asked for.</returns>
    (Tensor Output, Tensor? FinalState) StateSpaceDual(
        Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? dtBias, bool dtSoftplus,
        double dtMin, double dtMax, int chunkSize, Tensor? initialState = null, bool returnFinalState = false);

    /// <summary>
    /// One decoding step of the Mamba-2 mixer from in_proj's xBC and Δ to the input of the gated RMSNorm: conv
    /// window update, conv and SiLU, split into x | B | C, Δ, state update, C readout and D skip.
    /// </summary>
    /// <param name="xBC">The conv input of in_proj's output for the new token (batch, H·P + 2·G·N); views are fine.</param>
    /// <param name="dt">Δ before its bias (batch, H).</param>
    /// <param name="convState">(batch, H·P + 2·G·N, W), oldest input first; updated in place.</param>
    /// <param name="ssmState">(batch, H, P, N) fp32; updated in place.</param>
    /// <param name="weights">The mixer's parameters the step reads.</param>
    /// <returns>(batch, H·P) in xBC's dtype.</returns>
    Tensor StateSpaceDualStep(Tensor xBC, Tensor dt, Tensor convState, Tensor ssmState, Mamba2StepWeights weights);

    /// <summary>
    /// The gated RMSNorm before out_proj (mamba_ssm's <c>norm_before_gate=False</c>): h = y·SiLU(z), normalised by the
    /// root mean square of each of <paramref name="groups"/> equal parts of the last axis, in fp32, rounded to y's
    /// dtype, then scaled by <paramref name="weight"/>. Differentiable in y, z and weight.
    /// </summary>
    /// <param name="y">The scan's output (…, size).</param>
    /// <param name="z">The gate, shaped like <paramref name="y"/>.</param>
    /// <param name="weight">The per-channel scale (size).</param>
    /// <param name="groups">Parts of the last axis normalised on their own; divides size.</param>
    /// <param name="eps">Added to the mean square before the square root.</param>
    /// <returns>Shaped like <paramref name="y"/>, in y's dtype.</returns>
    Tensor GatedRmsNorm(Tensor y, Tensor z, Tensor weight, long groups, double eps);
}
