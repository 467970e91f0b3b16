using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>The decoding state of a whole model: one mixer state per layer, each read only by its own mixer.</summary>
public sealed class MambaCache : IDisposable
{
    /// <summary>The layers' states, in layer order (<see cref="MambaLayerState"/> for Mamba-1 mixers).</summary>
    public IReadOnlyList<IMixerState> Layers { get; }

    /// <summary>Tokens consumed so far (prompt included).</summary>
    public long Position { get; internal set; }

    internal MambaCache(IReadOnlyList<IMixerState> layers) => Layers = layers;

    /// <summary>Keeps only the given batch rows in every layer.</summary>
    public void SelectRows(Tensor rows)
    {
        foreach (var layer in Layers) layer.SelectRows(rows);
    }

    /// <summary>Releases every layer's state.</summary>
    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }
}
