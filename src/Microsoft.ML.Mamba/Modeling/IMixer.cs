using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The sequence mixer of a residual block (mamba_ssm's <c>mixer_cls</c>): <see cref="MambaBlock"/> computes
/// x + mixer(RMSNorm(x)) around it and knows nothing else about it. Mamba-1's is <see cref="MambaMixer"/>; another
/// family implements this interface with its own parameters, kernels (an interface extending
/// <see cref="ISharedKernels"/>) and decoding state.
/// </summary>
/// <remarks>
/// Implementations are TorchSharp modules: the block registers the mixer as its submodule <c>mixer</c>, so parameter
/// names read <c>backbone.layers.{i}.mixer.…</c> as in Hugging Face checkpoints. Shapes: hidden states are
/// (batch, length, hidden_size) and attention masks (batch, length) with 1 for tokens and 0 for padding.
/// </remarks>
public interface IMixer
{
    /// <summary>Kernels to run on; null means the family's default at call time. A mixer rejects, with an
    /// <see cref="ArgumentException"/>, kernels that lack its family's operations.</summary>
    ISharedKernels? Kernels { get; set; }

    /// <summary>The whole sequence at once (training, scoring).</summary>
    Tensor forward(Tensor hidden, Tensor? attentionMask);

    /// <summary>Like <see cref="forward"/>, leaving in <paramref name="state"/> what decoding continues from.</summary>
    Tensor Prefill(Tensor hidden, Tensor? attentionMask, IMixerState state);

    /// <summary>
    /// The next chunk (no padding) of sequences whose earlier part left <paramref name="state"/>, as if the two were
    /// one sequence; leaves the new state there. Gradients do not flow into the earlier state.
    /// </summary>
    Tensor Continue(Tensor hidden, IMixerState state);

    /// <summary>One decoding step, updating <paramref name="state"/> in place.</summary>
    /// <param name="hidden">(batch, hidden_size) for the newest token.</param>
    /// <param name="state">This mixer's state, from <see cref="NewState"/>.</param>
    /// <param name="residual">(batch, hidden_size) to add to the output, or null: a mixer may fuse the block's
    /// residual add into its last launch.</param>
    Tensor Step(Tensor hidden, IMixerState state, Tensor? residual = null);

    /// <summary>A fresh decoding state for <paramref name="batch"/> sequences, owning its tensors (outside any
    /// dispose scope); a state made by one mixer is only ever passed back to that mixer.</summary>
    IMixerState NewState(long batch, Device device);

    /// <summary>
    /// The initialisation that depends on the model around the mixer (mamba_ssm's <c>_init_weights</c>), called once
    /// by the backbone after it is built, e.g. out_proj scaled by 1/sqrt(<paramref name="numLayers"/>) so the residual
    /// stream's variance does not grow with depth.
    /// </summary>
    void InitialiseWeights(int numLayers);
}
