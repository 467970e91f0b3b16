using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>
/// Selective-scan inputs shaped and valued as in a trained Mamba layer: u, z, B, C ~ N(0, 1);
/// Δ = softplus⁻¹(dt) with dt log-uniform in [0.01, 0.1] per element and a small Δ bias, so the
/// decays exp(dt·A) are realistic; A = -(1..N) for every channel (S4D-real init); D = 1.
/// Sequences are contiguous (B, D, L); B and C are (B, N, L). The big tensors have u's dtype, the small
/// per-channel ones (A, D, Δ bias) stay fp32 as the model passes them.
/// </summary>
public sealed class ScanInputs : IDisposable
{
    public Tensor U = null!, Delta = null!, A = null!, B = null!, C = null!, D = null!, Z = null!, DeltaBias = null!;

    public static ScanInputs Create(ScanShape s, ScalarType dtype, Device device, bool requiresGrad, int seed = 0)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)(1234 + seed));
        Tensor Normal(params long[] shape) => randn(shape, generator: g);
        var dt = (rand(new long[] { s.Batch, s.Dim, s.Length }, generator: g) * Math.Log(10) + Math.Log(0.01)).exp();
        var deltaBefore = dt + (-(-dt).expm1()).log();   // softplus⁻¹(dt)
        var inputs = new ScanInputs
        {
            U = Normal(s.Batch, s.Dim, s.Length),
            Delta = deltaBefore,
            A = -arange(1, s.State + 1, dtype: ScalarType.Float32).unsqueeze(0).repeat(s.Dim, 1),
            B = Normal(s.Batch, s.State, s.Length),
            C = Normal(s.Batch, s.State, s.Length),
            D = ones(s.Dim),
            Z = Normal(s.Batch, s.Dim, s.Length),
            DeltaBias = Normal(s.Dim) * 0.01,
        };
        Tensor Leaf(Tensor t, ScalarType type) =>
            t.to(type, device).detach().requires_grad_(requiresGrad).MoveToOuterDisposeScope();
        inputs.U = Leaf(inputs.U, dtype);
        inputs.Delta = Leaf(inputs.Delta, dtype);
        inputs.Z = Leaf(inputs.Z, dtype);
        inputs.B = Leaf(inputs.B, dtype);
        inputs.C = Leaf(inputs.C, dtype);
        inputs.A = Leaf(inputs.A, ScalarType.Float32);
        inputs.D = Leaf(inputs.D, ScalarType.Float32);
        inputs.DeltaBias = Leaf(inputs.DeltaBias, ScalarType.Float32);
        return inputs;
    }

    /// <summary>Every input that training would want a gradient for.</summary>
    public Tensor[] Differentiable => new[] { U, Delta, A, B, C, D, Z, DeltaBias };

    /// <summary>The model's call: z gate, D skip, Δ bias and softplus all on.</summary>
    public Tensor Run(IMambaKernels kernels) =>
        kernels.SelectiveScan(U, Delta, A, B, C, D, Z, DeltaBias, deltaSoftplus: true).Output;

    /// <summary>
    /// Bytes the forward pass must at least move: u, Δ, z, B, C read and the output written, once each.
    /// </summary>
    public static long ForwardBytes(ScanShape s, ScalarType dtype)
    {
        long element = dtype == ScalarType.Float32 ? 4 : 2;
        long sequence = (long)s.Batch * s.Dim * s.Length, projection = (long)s.Batch * s.State * s.Length;
        return element * (4 * sequence + 2 * projection);
    }

    public const string ForwardBytesFormula = "elem_size × (4·B·D·L [u, Δ, z read; out written] + 2·B·N·L [B, C read]) bytes";

    public void Dispose()
    {
        foreach (var t in Differentiable) t.Dispose();
    }
}
