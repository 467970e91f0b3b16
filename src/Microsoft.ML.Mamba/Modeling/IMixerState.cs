using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// What one mixer carries from token to token while decoding, in a form only that mixer reads (Mamba-1's is
/// <see cref="MambaLayerState"/>). The block, the backbone, the cache and generation hold it, select rows of it and
/// dispose it, and never look inside.
/// </summary>
public interface IMixerState : IDisposable
{
    /// <summary>Keeps only the given batch rows (e.g. to drop finished sequences).</summary>
    /// <param name="rows">int64 row indices on the state's device.</param>
    void SelectRows(Tensor rows);
}
