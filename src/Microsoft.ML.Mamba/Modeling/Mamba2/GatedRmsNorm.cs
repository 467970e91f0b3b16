using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// Mamba-2's gated RMSNorm before out_proj: norm(y · SiLU(z)) · weight, computed in fp32 (the gate is applied before
/// the norm: mamba_ssm's <c>norm_before_gate=False</c>). The mean square runs over the whole inner width, as in
/// transformers' <c>MambaRMSNormGated</c>, or over each of <c>groups</c> equal parts of it, as in mamba_ssm's
/// <c>RMSNormGated(group_size = d_ssm / ngroups)</c>; the two agree for one group. The math is
/// <see cref="IMamba2Kernels.GatedRmsNorm"/>'s: fused native kernels by default, TorchSharp ops in the reference.
/// </summary>
public sealed class GatedRmsNorm : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly double _eps;
    private readonly long _groups;
    /// <summary>The per-channel scale, (size).</summary>
    public Parameter weight;

    /// <summary>A gated norm over the last axis.</summary>
    /// <param name="size">Width of the last axis.</param>
    /// <param name="groups">Parts of the last axis normalised on their own (1 = all of it); must divide <paramref name="size"/>.</param>
    /// <param name="eps">Added to the mean square before the square root.</param>
    /// <param name="device">Where the weight goes.</param>
    public GatedRmsNorm(long size, long groups = 1, double eps = 1e-5, Device? device = null) : base(nameof(GatedRmsNorm))
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "must be positive");
        if (groups <= 0 || size % groups != 0)
            throw new ArgumentOutOfRangeException(nameof(groups), groups, $"must be positive and divide the size {size}");
        _groups = groups;
        _eps = eps;
        weight = new Parameter(ones(size, dtype: ScalarType.Float32, device: device));
        RegisterComponents();
    }

    /// <summary>Kernels to run on (null = <see cref="MambaKernels.Default"/> when it has Mamba-2's operations, else
    /// <see cref="MambaKernels.Reference"/>); the mixer sets its own here.</summary>
    public IMamba2Kernels? Kernels { get; set; }

    /// <summary>Parts of the last axis normalised on their own.</summary>
    public long Groups => _groups;

    /// <summary>Added to the mean square before the square root.</summary>
    public double Eps => _eps;

    /// <summary>Normalises <paramref name="y"/> gated by <paramref name="z"/>; the result has <paramref name="y"/>'s dtype
    /// (transformers returns <c>weight * normed.to(input_dtype)</c> in the wider of the two dtypes, which the mixer
    /// then casts to out_proj's, y's, dtype).</summary>
    /// <param name="y">(…, size): the scan's output.</param>
    /// <param name="z">(…, size): the gate.</param>
    public override Tensor forward(Tensor y, Tensor z) =>
        (Kernels ?? MambaKernels.Mamba2Default).GatedRmsNorm(y, z, weight, _groups, _eps);
}
