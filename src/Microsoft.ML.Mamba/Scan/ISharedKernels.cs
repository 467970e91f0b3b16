using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The kernel operations every mixer family uses: the causal depthwise conv in front of the SSM and the RMSNorm of
/// the residual blocks. A family adds its own operations in an interface that extends this one
/// (<see cref="IMambaKernels"/> for Mamba-1's selective scan), so a new family brings its kernels without changing
/// another's. Every implementation rejects, with an <see cref="ArgumentException"/> naming the argument, wrong shapes,
/// non-floating dtypes, tensors on another device than the main input, and empty tensors (a zero-size axis).
/// </summary>
public interface ISharedKernels
{
    /// <summary>A short name for logs, e.g. "reference" or "native".</summary>
    string Name { get; }

    /// <summary>Causal depthwise conv1d: x (B, D, L), weight (D, W), bias (D) or null; optional SiLU.</summary>
    Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? bias, bool silu);

    /// <summary>RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight, with the mean in fp32.</summary>
    Tensor RmsNorm(Tensor x, Tensor weight, double eps);
}
