using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>Root-mean-square layer norm (no mean subtraction, no bias), computed in fp32.</summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;
    /// <summary>The per-channel scale, (size).</summary>
    public Parameter weight;

    /// <summary>Kernels to run on (null = <see cref="MambaKernels.Default"/>): the native one serves decoding, where
    /// this norm is a large share of the per-token launches; training always uses TorchSharp's ops.</summary>
    public ISharedKernels? Kernels { get; set; }

    /// <summary>A norm over the last axis.</summary>
    /// <param name="size">Width of the last axis.</param>
    /// <param name="eps">Added to the mean square before the square root.</param>
    /// <param name="device">Where the weight goes.</param>
    /// <param name="dtype">The weight's dtype.</param>
    public RMSNorm(long size, double eps = 1e-5, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(RMSNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(size, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>Normalises <paramref name="x"/> over its last axis and scales it; the result has <paramref name="x"/>'s dtype.</summary>
    public override Tensor forward(Tensor x) => (Kernels ?? MambaKernels.Default).RmsNorm(x, weight, _eps);
}
