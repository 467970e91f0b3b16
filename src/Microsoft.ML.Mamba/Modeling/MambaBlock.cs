using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// Pre-norm residual block: x + Mixer(RMSNorm(x)), with the residual kept in fp32 if configured. The mixer is any
/// <see cref="IMixer"/> (mamba_ssm's <c>Block(dim, mixer_cls, norm_cls)</c>); the block passes its decoding state
/// through without looking inside.
/// </summary>
public sealed class MambaBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly bool _residualInFp32;
    /// <summary>The pre-norm (Hugging Face's <c>norm</c>).</summary>
    public RMSNorm norm;
    /// <summary>The mixer, a TorchSharp module registered as <c>mixer</c> (Hugging Face's parameter names).</summary>
    public IMixer mixer;

    /// <summary>A block around the mixer family <paramref name="config"/> names (<see cref="MambaConfig.Architecture"/>).</summary>
    public MambaBlock(MambaConfig config, Device? device = null)
        : this(config.HiddenSize, config.LayerNormEpsilon, config.ResidualInFp32, MambaModel.NewMixer(config, device), device)
    {
    }

    /// <summary>A block around any mixer.</summary>
    /// <param name="hiddenSize">Width of the residual stream (the norm's size).</param>
    /// <param name="normEpsilon">The RMSNorm's epsilon.</param>
    /// <param name="residualInFp32">Keep the residual stream in fp32 whatever the model's dtype.</param>
    /// <param name="mixer">The mixer; must be a TorchSharp module.</param>
    /// <param name="device">Where the norm's weight goes.</param>
    public MambaBlock(long hiddenSize, double normEpsilon, bool residualInFp32, IMixer mixer, Device? device = null)
        : base(nameof(MambaBlock))
    {
        ArgumentNullException.ThrowIfNull(mixer);
        if (mixer is not nn.Module)
            throw new ArgumentException($"the mixer must be a TorchSharp module (nn.Module) so its parameters register; {mixer.GetType().Name} is not", nameof(mixer));
        _residualInFp32 = residualInFp32;
        norm = new RMSNorm(hiddenSize, normEpsilon, device);
        this.mixer = mixer;
        RegisterComponents();
    }

    /// <summary>Runs the block over a whole sequence: (batch, length, hidden_size) in and out.</summary>
    /// <param name="hidden">The residual stream.</param>
    /// <param name="attentionMask">(batch, length), 1 for tokens and 0 for padding, or null.</param>
    public override Tensor forward(Tensor hidden, Tensor? attentionMask) =>
        Residual(hidden, normed => mixer.forward(normed, attentionMask));

    /// <summary>Like <see cref="forward"/>, leaving the decoding state in <paramref name="state"/>.</summary>
    public Tensor Prefill(Tensor hidden, Tensor? attentionMask, IMixerState state) =>
        Residual(hidden, normed => mixer.Prefill(normed, attentionMask, state));

    /// <summary>Like <see cref="forward"/>, continuing from <paramref name="state"/> and leaving the new state there (<see cref="IMixer.Continue"/>).</summary>
    public Tensor Continue(Tensor hidden, IMixerState state) =>
        Residual(hidden, normed => mixer.Continue(normed, state));

    /// <summary>One decoding step on (batch, hidden_size).</summary>
    public Tensor Step(Tensor hidden, IMixerState state)
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
