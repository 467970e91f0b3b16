using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Quantization;

/// <summary>
/// A Mamba-2 mixer's decoding step on packed weights (<see cref="DecodeWeights"/>): in_proj and out_proj through
/// <see cref="PackedProjection"/>, the conv/SSD step and the gated norm between them as the mixer computes them
/// (<see cref="Mamba2Mixer.StepBetweenProjections"/>). The same computation as <see cref="Mamba2Mixer.Step"/>, with the
/// two projections' weights rounded; they are almost all of a Mamba-2 layer's weights.
/// </summary>
internal sealed class PackedMamba2Step : IDisposable
{
    private readonly Mamba2Mixer _mixer;
    private readonly PackedProjection _inProj, _outProj;

    private PackedMamba2Step(Mamba2Mixer mixer, DecodeWeights format)
    {
        _mixer = mixer;
        _inProj = PackedProjection.Pack(mixer.in_proj.weight!, mixer.in_proj.bias, format, "in_proj");
        try
        {
            _outProj = PackedProjection.Pack(mixer.out_proj.weight!, mixer.out_proj.bias, format, "out_proj");
        }
        catch
        {
            _inProj.Dispose();
            throw;
        }
    }

    /// <summary>Bytes of weights one step reads through the packed projections.</summary>
    public long WeightBytes => _inProj.WeightBytes + _outProj.WeightBytes;

    /// <summary>Packs <paramref name="mixer"/>'s in_proj and out_proj.</summary>
    public static PackedMamba2Step Create(Mamba2Mixer mixer, DecodeWeights format)
    {
        ArgumentNullException.ThrowIfNull(mixer);
        using var _ = no_grad();
        return new PackedMamba2Step(mixer, format);
    }

    /// <summary>
    /// Whether this step can run on these tensors: on the CPU with fp32 states and an fp32 mixer. A model moved to CUDA
    /// or cast to another dtype after packing decodes on its own weights instead.
    /// </summary>
    public bool Accepts(Tensor hidden, Mamba2LayerState state) =>
        hidden.device_type == DeviceType.CPU && state.ConvState.device_type == DeviceType.CPU &&
        state.ConvState.dtype == ScalarType.Float32 && _mixer.conv1d.weight!.dtype == ScalarType.Float32;

    /// <summary>The mixer's step (see <see cref="Mamba2Mixer.Step"/>) on the packed weights; fp32 (batch, hidden_size).</summary>
    public Tensor Step(Tensor hidden, Mamba2LayerState state, Tensor? residual)
    {
        using var scope = NewDisposeScope();
        var projected = _inProj.Apply(hidden);   // (B, inner + K + H), fp32
        var gated = _mixer.StepBetweenProjections(projected, state);
        return _outProj.Apply(gated, residual).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the packed weights.</summary>
    public void Dispose()
    {
        _inProj.Dispose();
        _outProj.Dispose();
    }
}
