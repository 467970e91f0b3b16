using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The time-invariant SSM of the S4-like ablation (<see cref="MambaConfig.TimeInvariantSsm"/>) computed as what it
/// is, one long causal convolution per channel, through the FFT (as S4 does). With Δ, B and C constant over time,
/// h_t = exp(Δ A) h_{t-1} + Δ B u_t unrolls to y_t = Σ_{s ≤ t} K(t - s) u_s with
/// K(τ) = Σ_n C_n B_n Δ exp(Δ A_n τ). The scan kernels would see B and C as one group per channel, which they
/// handle poorly (one channel per thread block on CUDA, and a (batch, channels, state, length) gradient of B
/// and C to reduce); this is O(L log L) per channel and differentiable through ordinary tensor operations.
/// </summary>
internal static class TimeInvariantConvolution
{
    /// <param name="u">(batch, channels, length), the conv's output.</param>
    /// <param name="deltaBias">(channels): Δ = softplus(deltaBias), the same for every step.</param>
    /// <param name="A">(channels, state), negative, fp32.</param>
    /// <param name="B">(channels, state).</param>
    /// <param name="C">(channels, state).</param>
    /// <param name="D">(channels) skip weight.</param>
    /// <param name="z">(batch, channels, length) gate input, or null for no gate.</param>
    /// <returns>(batch, channels, length) in <paramref name="u"/>'s dtype: (y + D u) · SiLU(z), computed in fp32 (fp64 for fp64).</returns>
    public static Tensor Forward(Tensor u, Tensor deltaBias, Tensor A, Tensor B, Tensor C, Tensor D, Tensor? z)
    {
        using var scope = NewDisposeScope();
        var compute = u.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        long length = u.size(2);
        var dt = TorchScalars.Softplus(deltaBias.to_type(compute)).unsqueeze(1);  // (E, 1)
        var rate = dt * A.to_type(compute);                                         // (E, N): log-decay per step
        var weight = dt * B.to_type(compute) * C.to_type(compute);                  // (E, N)
        var tau = arange(length, dtype: compute, device: u.device);                 // (L)
        // K = Σ_n weight_n exp(rate_n τ), one state at a time: (E, N, L) at once would not fit at 2^20 steps.
        Tensor kernel = zeros(u.size(1), length, dtype: compute, device: u.device);
        for (long n = 0; n < A.size(1); n++)
            kernel = TorchScalars.Add(kernel, weight.narrow(1, n, 1) * (rate.narrow(1, n, 1) * tau).exp());
        // Linear (not circular) convolution: zero-pad both to at least 2L - 1.
        long fftLength = 1;
        while (fftLength < 2 * length) fftLength <<= 1;
        var uf = u.to_type(compute);
        var spectrum = fft.rfft(uf, fftLength, -1) * fft.rfft(kernel, fftLength, -1);
        var y = TorchScalars.Add(fft.irfft(spectrum, fftLength, -1).narrow(-1, 0, length), uf * D.to_type(compute).unsqueeze(1));
        if (z is not null) y = y * nn.functional.silu(z.to_type(compute));
        return y.to_type(u.dtype).MoveToOuterDisposeScope();
    }
}
