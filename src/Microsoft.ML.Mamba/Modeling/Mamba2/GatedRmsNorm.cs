using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// Mamba-2's gated RMSNorm before out_proj: norm(y · SiLU(z)) · weight, computed in fp32 (the gate is applied before
/// the norm: mamba_ssm's <c>norm_before_gate=False</c>). The mean square runs over the whole inner width, as in
/// transformers' <c>MambaRMSNormGated</c>, or over each of <c>groups</c> equal parts of it, as in mamba_ssm's
/// <c>RMSNormGated(group_size = d_ssm / ngroups)</c>; the two agree for one group.
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

    /// <summary>Normalises <paramref name="y"/> gated by <paramref name="z"/>; the result has <paramref name="y"/>'s dtype
    /// times the weight's (as transformers: <c>weight * normed.to(input_dtype)</c>).</summary>
    /// <param name="y">(…, size): the scan's output.</param>
    /// <param name="z">(…, size): the gate.</param>
    public override Tensor forward(Tensor y, Tensor z)
    {
        using var scope = NewDisposeScope();
        var work = y.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var h = y.to_type(work) * nn.functional.silu(z.to_type(work));
        long size = h.size(-1);
        var shape = h.shape;
        var grouped = _groups == 1 ? h : h.reshape(shape[..^1].Append(_groups).Append(size / _groups).ToArray());
        var normed = grouped * TorchScalars.Add(TorchScalars.Square(grouped).mean(new long[] { -1 }, keepdim: true), _eps).rsqrt();
        if (_groups != 1) normed = normed.reshape(shape);
        return (weight * normed.to_type(y.dtype)).MoveToOuterDisposeScope();
    }
}
