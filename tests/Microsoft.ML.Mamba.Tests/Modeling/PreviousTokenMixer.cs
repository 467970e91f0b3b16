using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>
/// A second mixer family, as small as one can be: each token gets a linear map of the token before it (zero before the
/// first). Its decoding state is that last token, in a state type of its own. It proves the seam: blocks, backbones and
/// caches built around it must work without knowing it.
/// </summary>
internal sealed class PreviousTokenMixer : nn.Module<Tensor, Tensor?, Tensor>, IMixer
{
    private readonly long _hidden;
    public Linear proj;

    public PreviousTokenMixer(long hidden) : base(nameof(PreviousTokenMixer))
    {
        _hidden = hidden;
        proj = nn.Linear(hidden, hidden, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The layer count the backbone initialised it for (0 = never).</summary>
    public int InitialisedFor { get; private set; }

    public ISharedKernels? Kernels { get; set; }

    public override Tensor forward(Tensor hidden, Tensor? attentionMask) => proj.forward(Shift(Masked(hidden, attentionMask), null));

    public Tensor Prefill(Tensor hidden, Tensor? attentionMask, IMixerState state)
    {
        var x = Masked(hidden, attentionMask);
        ((LastTokenState)state).Keep(x.select(1, x.size(1) - 1));
        return proj.forward(Shift(x, null));
    }

    public Tensor Continue(Tensor hidden, IMixerState state)
    {
        var own = (LastTokenState)state;
        var y = proj.forward(Shift(hidden, own.Last));
        own.Keep(hidden.select(1, hidden.size(1) - 1));
        return y;
    }

    public Tensor Step(Tensor hidden, IMixerState state, Tensor? residual = null)
    {
        var own = (LastTokenState)state;
        var y = proj.forward(own.Last.to_type(hidden.dtype));
        own.Keep(hidden);
        return residual is null ? y : residual + y;
    }

    public IMixerState NewState(long batch, Device device) => new LastTokenState(zeros(batch, _hidden, device: device));

    public void InitialiseWeights(int numLayers) => InitialisedFor = numLayers;

    private static Tensor Masked(Tensor hidden, Tensor? mask) => mask is null ? hidden : hidden * mask.unsqueeze(-1).to_type(hidden.dtype);

    // (batch, length, hidden) → the token before each position; previous (batch, hidden) or zeros before the first.
    private static Tensor Shift(Tensor x, Tensor? previous)
    {
        var first = previous?.to_type(x.dtype).unsqueeze(1) ?? zeros_like(x.narrow(1, 0, 1));
        return cat(new[] { first, x.narrow(1, 0, x.size(1) - 1) }, 1);
    }
}

/// <summary>The <see cref="PreviousTokenMixer"/>'s decoding state: the last input token, (batch, hidden).</summary>
internal sealed class LastTokenState : IMixerState
{
    public LastTokenState(Tensor last) => Last = last.DetachFromDisposeScope();

    public Tensor Last { get; private set; }

    public bool Disposed { get; private set; }

    public void Keep(Tensor token)
    {
        var next = token.detach().clone().DetachFromDisposeScope();
        Last.Dispose();
        Last = next;
    }

    public void SelectRows(Tensor rows) => Keep(Last.index_select(0, rows));

    public void Dispose()
    {
        Last.Dispose();
        Disposed = true;
    }
}
