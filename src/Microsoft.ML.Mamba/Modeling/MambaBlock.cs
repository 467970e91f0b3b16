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

    public override Tensor forward(Tensor hidden, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var residual = _residualInFp32 ? hidden.to_type(ScalarType.Float32) : hidden;
        var mixed = mixer.forward(norm.forward(hidden.to_type(norm.weight.dtype)), attentionMask);
        return (residual + mixed).MoveToOuterDisposeScope();
    }
}
