using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// What one Mamba-2 mixer (<see cref="Mamba2Mixer"/>) carries from token to token while decoding: the last
/// conv_kernel inputs of the causal conv over x | B | C, and the SSD state of every head. Its size does not grow with
/// the sequence.
/// </summary>
public sealed class Mamba2LayerState : IMixerState
{
    /// <summary>(batch, H·P + 2·G·N, conv_kernel): the conv's input window, oldest first.</summary>
    public Tensor ConvState { get; internal set; }

    /// <summary>(batch, heads, head_dim, state_size), fp32.</summary>
    public Tensor SsmState { get; internal set; }

    /// <summary>A state that owns the two tensors.</summary>
    internal Mamba2LayerState(Tensor convState, Tensor ssmState)
    {
        ConvState = convState;
        SsmState = ssmState;
    }

    /// <summary>Keeps only the given batch rows (e.g. to drop finished sequences).</summary>
    /// <remarks>Safe inside a dispose scope: the new state tensors are owned by the state, not the scope.</remarks>
    public void SelectRows(Tensor rows)
    {
        var conv = ConvState.index_select(0, rows).DetachFromDisposeScope();
        var ssm = SsmState.index_select(0, rows).DetachFromDisposeScope();
        ConvState.Dispose(); SsmState.Dispose();
        ConvState = conv; SsmState = ssm;
    }

    /// <summary>Releases the state tensors.</summary>
    public void Dispose()
    {
        ConvState.Dispose();
        SsmState.Dispose();
    }
}
