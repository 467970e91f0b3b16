namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// Chooses the kernels a model runs with: the fused native kernels, which hand whatever they cannot run
/// to the TorchSharp reference (logging why, once). Both serve the shared operations (<see cref="ISharedKernels"/>)
/// and Mamba-1's (<see cref="IMambaKernels"/>).
/// </summary>
public static class MambaKernels
{
    private static IMambaKernels s_default = new NativeKernels();

    /// <summary>The kernels new mixers use unless told otherwise.</summary>
    public static IMambaKernels Default
    {
        get => s_default;
        set => s_default = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The pure TorchSharp implementation (always available).</summary>
    public static IMambaKernels Reference { get; } = new ReferenceKernels();

    /// <summary>The Mamba-2 kernels a Mamba-2 module uses unless told otherwise: <see cref="Default"/> when it has
    /// Mamba-2's operations, else the reference's.</summary>
    internal static IMamba2Kernels Mamba2Default => Default as IMamba2Kernels ?? (IMamba2Kernels)Reference;
}
