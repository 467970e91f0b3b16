namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// Chooses the kernels a model runs with. Today that is the TorchSharp reference everywhere; the native
/// fused kernels register here when the native library loads.
/// </summary>
public static class MambaKernels
{
    private static IMambaKernels s_default = new ReferenceKernels();

    /// <summary>The kernels new mixers use unless told otherwise.</summary>
    public static IMambaKernels Default
    {
        get => s_default;
        set => s_default = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The pure TorchSharp implementation (always available).</summary>
    public static IMambaKernels Reference { get; } = new ReferenceKernels();
}
