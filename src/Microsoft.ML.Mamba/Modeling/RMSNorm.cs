using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>Root-mean-square layer norm (no mean subtraction, no bias), computed in fp32.</summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;
    public Parameter weight;

    public RMSNorm(long size, double eps = 1e-5, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(RMSNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(size, dtype: dtype, device: device));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to_type(ScalarType.Float32);
        var normed = x32 * (x32.pow(2).mean(new long[] { -1 }, keepdim: true) + _eps).rsqrt();
        return (weight * normed.to_type(x.dtype)).MoveToOuterDisposeScope();
    }
}
