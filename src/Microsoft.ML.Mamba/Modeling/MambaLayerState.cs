using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// What one Mamba-1 mixer (<see cref="MambaMixer"/>) carries from token to token while decoding: the last
/// conv_kernel inputs of the causal conv and the SSM state. Its size does not grow with the sequence.
/// </summary>
public sealed class MambaLayerState : IMixerState
{
    /// <summary>(batch, inner, conv_kernel): the conv's input window, oldest first.</summary>
    public Tensor ConvState { get; internal set; }

    /// <summary>(batch, inner, state_size), fp32.</summary>
    public Tensor SsmState { get; internal set; }

    /// <summary>
    /// The mixer's weights in the form the decode step takes them, made at the first step and kept for the rest
    /// of this decoding (parameters do not change while a sequence is generated): converting a bf16 model's small
    /// parameters to fp32 on every token was a third of its per-token launches.
    /// </summary>
    internal DecodeStepWeights? StepWeights { get; private set; }
    private List<Tensor>? _ownedStepTensors;

    internal DecodeStepWeights StepWeightsOr(Func<List<Tensor>, DecodeStepWeights> prepare)
    {
        if (StepWeights is null)
        {
            _ownedStepTensors = new List<Tensor>();
            StepWeights = prepare(_ownedStepTensors);
        }
        return StepWeights;
    }

    /// <summary>A state that owns the two tensors.</summary>
    /// <param name="convState">(batch, inner, conv_kernel).</param>
    /// <param name="ssmState">(batch, inner, state_size), fp32.</param>
    internal MambaLayerState(Tensor convState, Tensor ssmState)
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
        if (_ownedStepTensors is not null)
            foreach (var t in _ownedStepTensors) t.Dispose();
        _ownedStepTensors = null;
        StepWeights = null;
    }
}
