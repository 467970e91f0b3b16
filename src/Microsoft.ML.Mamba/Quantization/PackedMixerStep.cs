using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Quantization;

/// <summary>
/// A Mamba-1 mixer's decoding step on packed weights (<see cref="DecodeWeights"/>): in_proj and out_proj through
/// <see cref="PackedProjection"/>, everything between them one native call (mamba_decode_step_wq_cpu) whose x_proj is
/// packed too. The same computation as <see cref="MambaMixer.Step"/>, with the projections' weights rounded.
/// </summary>
internal sealed class PackedMixerStep : IDisposable
{
    private readonly PackedProjection _inProj, _outProj, _xProj;
    private readonly Tensor _convWeight, _dtProjWeight, _aLog;   // fp32 contiguous copies
    private readonly Tensor? _convBias, _dtBias, _d;
    private readonly long _inner;
    private readonly bool _gated;

    private PackedMixerStep(MambaMixer mixer, DecodeWeights format)
    {
        var f32 = ScalarType.Float32;
        Tensor? Small(Tensor? t) => t?.detach().to_type(f32).contiguous().clone().DetachFromDisposeScope();
        _inner = mixer.x_proj!.weight!.size(1);
        _gated = mixer.in_proj.weight!.size(0) == 2 * _inner;
        _inProj = PackedProjection.Pack(mixer.in_proj.weight!, mixer.in_proj.bias, format, "in_proj");
        _outProj = PackedProjection.Pack(mixer.out_proj.weight!, mixer.out_proj.bias, format, "out_proj");
        _xProj = PackedProjection.Pack(mixer.x_proj.weight!, null, format, "x_proj");
        _convWeight = Small(mixer.conv1d.weight!.squeeze(1))!;
        _convBias = Small(mixer.conv1d.bias);
        _dtProjWeight = Small(mixer.dt_proj.weight)!;
        _dtBias = Small(mixer.dt_proj.bias);
        _aLog = Small(mixer.A_log)!;
        _d = Small(mixer.D);
    }

    /// <summary>Bytes of weights one step reads through the packed projections.</summary>
    public long WeightBytes => _inProj.WeightBytes + _xProj.WeightBytes + _outProj.WeightBytes;

    /// <summary>
    /// Packs <paramref name="mixer"/>'s projections, or returns null with the reason when its decoding step has no packed
    /// form (the time-invariant ablation, a state over 256 or a conv over 8 taps: the fused native step's limits).
    /// </summary>
    public static PackedMixerStep? TryCreate(MambaMixer mixer, DecodeWeights format, out string? reason)
    {
        using var _ = no_grad();
        reason = mixer.x_proj is null ? "a time-invariant mixer (no x_proj)"
            : mixer.A_log.size(1) > 256 ? "a state size over 256"
            : mixer.conv1d.weight!.size(2) > 8 ? "a conv width over 8"
            : null;
        return reason is null ? new PackedMixerStep(mixer, format) : null;
    }

    /// <summary>
    /// Whether this step can run on these tensors: on the CPU with an fp32 conv state. A model moved to CUDA or cast to
    /// another dtype after packing decodes on its own weights instead.
    /// </summary>
    public bool Accepts(Tensor hidden, MambaLayerState state) =>
        hidden.device_type == DeviceType.CPU && state.ConvState.device_type == DeviceType.CPU && state.ConvState.dtype == ScalarType.Float32;

    /// <summary>The mixer's step (see <see cref="MambaMixer.Step"/>) on the packed weights; fp32 (batch, hidden_size).</summary>
    public Tensor Step(Tensor hidden, MambaLayerState state, Tensor? residual)
    {
        using var scope = NewDisposeScope();
        var xz = _inProj.Apply(hidden);                                // (B, 2E) or (B, E), fp32
        var x = xz.narrow(1, 0, _inner);
        Tensor? z = _gated ? xz.narrow(1, _inner, _inner) : null;
        var y = NativeDecodeStep.Run(x, z, state.ConvState, state.SsmState, _convWeight, _convBias, _xProj.Weight, _dtProjWeight, _dtBias,
            _aLog, _d, PackedProjection.NativeFormat(_xProj.Format), _xProj.Scales);
        return _outProj.Apply(y, residual).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the packed and copied weights.</summary>
    public void Dispose()
    {
        _inProj.Dispose(); _outProj.Dispose(); _xProj.Dispose();
        _convWeight.Dispose(); _convBias?.Dispose(); _dtProjWeight.Dispose(); _dtBias?.Dispose(); _aLog.Dispose(); _d?.Dispose();
    }
}
