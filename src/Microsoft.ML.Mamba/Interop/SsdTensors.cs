using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The tensors of one SSD scan by name, the optional ones null; also the shape of its gradients (one per input, null
/// where the input was null). <see cref="StateSpaceDualFunction"/> is the only place that turns them into TorchSharp's
/// positional autograd arguments and back.
/// </summary>
/// <param name="X">Input (batch, length, heads, head_dim).</param>
/// <param name="Dt">Δ before its bias (batch, length, heads), x's dtype.</param>
/// <param name="A">Decay per head (heads), fp32 contiguous.</param>
/// <param name="B">(batch, length, groups, state), x's dtype.</param>
/// <param name="C">Shaped like <paramref name="B"/>.</param>
/// <param name="D">Skip (heads) fp32 contiguous, or null.</param>
/// <param name="DtBias">Δ's bias (heads) fp32 contiguous, or null.</param>
/// <param name="InitialState">(batch, heads, head_dim, state) fp32 contiguous, or null for zeros.</param>
internal readonly record struct SsdTensors(
    Tensor X, Tensor Dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? DtBias, Tensor? InitialState)
{
    /// <summary>How many tensor arguments the autograd function takes, ahead of its settings.</summary>
    public const int Count = 8;

    private const int HasD = 1, HasDtBias = 2, HasInitialState = 4;

    /// <summary>Bits of the optional tensors present, for <see cref="FromSaved"/>.</summary>
    public int Present => (D is null ? 0 : HasD) | (DtBias is null ? 0 : HasDtBias) | (InitialState is null ? 0 : HasInitialState);

    /// <summary>From the autograd function's arguments, in the order <see cref="Arguments"/> writes them.</summary>
    public static SsdTensors FromArguments(object[] vars) => new(
        (Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4],
        vars[5] as Tensor, vars[6] as Tensor, vars[7] as Tensor);

    /// <summary>The autograd function's arguments: the tensors in order, then <paramref name="settings"/>.</summary>
    public object[] Arguments(object settings) => new object[] { X, Dt, A, B, C, D!, DtBias!, InitialState!, settings };

    /// <summary>How many tensors <see cref="PresentTensors"/> returns.</summary>
    public int PresentCount => 5 + System.Numerics.BitOperations.PopCount((uint)Present);

    /// <summary>The tensors that are present, in order: what the forward saves for the backward.</summary>
    public List<Tensor> PresentTensors()
    {
        var list = new List<Tensor>(Count) { X, Dt, A, B, C };
        if (D is not null) list.Add(D);
        if (DtBias is not null) list.Add(DtBias);
        if (InitialState is not null) list.Add(InitialState);
        return list;
    }

    /// <summary>Rebuilds the inputs from what <see cref="PresentTensors"/> saved and <see cref="Present"/>'s bits.</summary>
    public static SsdTensors FromSaved(IList<Tensor> saved, int present)
    {
        int k = 5;
        Tensor? d = (present & HasD) != 0 ? saved[k++] : null;
        Tensor? bias = (present & HasDtBias) != 0 ? saved[k++] : null;
        Tensor? initial = (present & HasInitialState) != 0 ? saved[k++] : null;
        return new(saved[0], saved[1], saved[2], saved[3], saved[4], d, bias, initial);
    }

    /// <summary>As gradients for the autograd function's backward: one per argument, the settings' null last.</summary>
    public List<Tensor> AsGradients() => new(Count + 1) { X, Dt, A, B, C, D!, DtBias!, InitialState!, null! };

    /// <summary>All eight, null where absent (for disposal).</summary>
    public Tensor?[] All() => new[] { X, Dt, A, B, C, D, DtBias, InitialState };
}
