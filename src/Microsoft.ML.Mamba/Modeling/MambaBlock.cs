using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>Pre-norm residual block: x + Mixer(RMSNorm(x)), with the residual kept in fp32 if configured.</summary>
public sealed class MambaBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly bool _residualInFp32;
    public RMSNorm norm;
    public MambaMixer mixer;

    public MambaBlock(MambaConfig config, Device? device = null) : base(nameof(MambaBlock))
    {
        _residualInFp32 = config.ResidualInFp32;
        norm = new RMSNorm(config.HiddenSize, config.LayerNormEpsilon, device);
        mixer = new MambaMixer(config, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor? attentionMask) =>
        Residual(hidden, normed => mixer.forward(normed, attentionMask));

    /// <summary>Like <see cref="forward"/>, leaving the decoding state in <paramref name="state"/>.</summary>
    public Tensor Prefill(Tensor hidden, Tensor? attentionMask, MambaLayerState state) =>
        Residual(hidden, normed => mixer.Prefill(normed, attentionMask, state));

    /// <summary>Like <see cref="forward"/>, continuing from <paramref name="state"/> and leaving the new state there (<see cref="MambaMixer.Continue"/>).</summary>
    public Tensor Continue(Tensor hidden, MambaLayerState state) =>
        Residual(hidden, normed => mixer.Continue(normed, state));

    /// <summary>One decoding step on (batch, hidden_size).</summary>
    public Tensor Step(Tensor hidden, MambaLayerState state)
    {
        using var scope = NewDisposeScope();
        var residual = _residualInFp32 ? hidden.to_type(ScalarType.Float32) : hidden;
        // The mixer adds the residual itself: at one token per call, every launch saved counts.
        return mixer.Step(norm.forward(hidden.to_type(norm.weight.dtype)), state, residual).MoveToOuterDisposeScope();
    }

    private Tensor Residual(Tensor hidden, Func<Tensor, Tensor> mix)
    {
        using var scope = NewDisposeScope();
        var residual = _residualInFp32 ? hidden.to_type(ScalarType.Float32) : hidden;
        var mixed = mix(norm.forward(hidden.to_type(norm.weight.dtype)));
        return TorchScalars.Add(residual, mixed).MoveToOuterDisposeScope();
    }
}
