using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The tensors of one selective scan by name, the optional ones null; also the shape of its gradients (one per
/// input, null where the input was null). <see cref="SelectiveScanFunction"/> is the only place that turns them into
/// TorchSharp's positional autograd arguments and back. A struct: the scan runs once per layer per call.
/// </summary>
/// <param name="U">Input (batch, dim, length).</param>
/// <param name="Delta">Δ before its bias (batch, dim, length).</param>
/// <param name="A">State matrix (dim, state), fp32.</param>
/// <param name="B">(batch, state, length) or (batch, groups, state, length).</param>
/// <param name="C">Shaped like <paramref name="B"/>.</param>
/// <param name="D">Skip (dim) fp32, or null.</param>
/// <param name="Z">Gate (batch, dim, length), or null.</param>
/// <param name="DeltaBias">Δ's bias (dim) fp32, or null.</param>
/// <param name="InitialState">(batch, dim, state) fp32, or null for zeros.</param>
internal readonly record struct ScanTensors(
    Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? Z, Tensor? DeltaBias, Tensor? InitialState)
{
    /// <summary>How many tensor arguments the autograd function takes, ahead of its settings.</summary>
    public const int Count = 9;

    // Which optional tensors are present, as bits, for rebuilding the inputs from the saved (non-null) tensors.
    private const int HasD = 1, HasZ = 2, HasDeltaBias = 4, HasInitialState = 8;

    /// <summary>Bits of the optional tensors present, for <see cref="FromSaved"/>.</summary>
    public int Present => (D is null ? 0 : HasD) | (Z is null ? 0 : HasZ) | (DeltaBias is null ? 0 : HasDeltaBias)
        | (InitialState is null ? 0 : HasInitialState);

    /// <summary>How many tensors <see cref="PresentTensors"/> returns.</summary>
    public int PresentCount => 5 + System.Numerics.BitOperations.PopCount((uint)Present);

    /// <summary>From the autograd function's arguments, in the order <see cref="Arguments"/> writes them.</summary>
    public static ScanTensors FromArguments(object[] vars) => new(
        (Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4],
        vars[5] as Tensor, vars[6] as Tensor, vars[7] as Tensor, vars[8] as Tensor);

    /// <summary>The autograd function's arguments: the tensors in order, then <paramref name="settings"/>.</summary>
    public object[] Arguments(object settings) => new object[] { U, Delta, A, B, C, D!, Z!, DeltaBias!, InitialState!, settings };

    /// <summary>The tensors that are present, in order: what the forward saves for the backward.</summary>
    public List<Tensor> PresentTensors()
    {
        var list = new List<Tensor>(Count) { U, Delta, A, B, C };
        if (D is not null) list.Add(D);
        if (Z is not null) list.Add(Z);
        if (DeltaBias is not null) list.Add(DeltaBias);
        if (InitialState is not null) list.Add(InitialState);
        return list;
    }

    /// <summary>Rebuilds the inputs from what <see cref="PresentTensors"/> saved and <see cref="Present"/>'s bits.</summary>
    public static ScanTensors FromSaved(IList<Tensor> saved, int present)
    {
        int k = 5;
        Tensor? d = (present & HasD) != 0 ? saved[k++] : null;
        Tensor? z = (present & HasZ) != 0 ? saved[k++] : null;
        Tensor? bias = (present & HasDeltaBias) != 0 ? saved[k++] : null;
        Tensor? initial = (present & HasInitialState) != 0 ? saved[k++] : null;
        return new(saved[0], saved[1], saved[2], saved[3], saved[4], d, z, bias, initial);
    }

    /// <summary>As gradients for the autograd function's backward: one per argument, the settings' null last.</summary>
    public List<Tensor> AsGradients() => new(Count + 1) { U, Delta, A, B, C, D!, Z!, DeltaBias!, InitialState!, null! };

    /// <summary>All nine, null where absent (for disposal).</summary>
    public Tensor?[] All() => new[] { U, Delta, A, B, C, D, Z, DeltaBias, InitialState };
}
