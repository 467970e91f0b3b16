using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>The decoding state of a whole model: one <see cref="MambaLayerState"/> per layer.</summary>
public sealed class MambaCache : IDisposable
{
    public IReadOnlyList<MambaLayerState> Layers { get; }

    /// <summary>Tokens consumed so far (prompt included).</summary>
    public long Position { get; internal set; }

    internal MambaCache(IReadOnlyList<MambaLayerState> layers) => Layers = layers;

    /// <summary>Keeps only the given batch rows in every layer.</summary>
    public void SelectRows(Tensor rows)
    {
        foreach (var layer in Layers) layer.SelectRows(rows);
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }
}
