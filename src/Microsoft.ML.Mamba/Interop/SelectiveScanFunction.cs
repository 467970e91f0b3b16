using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The fused native selective scan as a TorchSharp autograd function. Forward writes only the output
/// and the final state; backward hands the saved inputs back to the native kernel, which recomputes
/// the states instead of reading them from memory.
/// </summary>
/// <remarks>
/// apply(u, delta, A, B, C, D?, z?, deltaBias?, initialState?, ScanSettings) → [output, finalState].
/// Optional tensors may be null; backward returns one gradient (or null) per argument.
/// </remarks>
internal sealed class SelectiveScanFunction : autograd.MultiTensorFunction<SelectiveScanFunction>
{
    /// <param name="DeltaSoftplus">Apply softplus to Δ (after its bias) inside the kernel, as Mamba does.</param>
    /// <param name="Deterministic">Backward without atomics, bitwise reproducible (<see cref="Scan.NativeKernels.Deterministic"/>).</param>
    /// <param name="KeepCheckpoints">
    /// The forward keeps the states the CUDA backward starts its time chunks from (fp32, 1/BWD_T of the
    /// (batch, dim, length, state) states), sparing the backward a recomputation pass. Only when a backward will run.
    /// </param>
    public sealed record ScanSettings(bool DeltaSoftplus, bool Deterministic, bool KeepCheckpoints = false);

    private const int TensorArguments = 9;

    public override string Name => "MambaSelectiveScan";

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        DeferredDisposal.Advance();
        var inputs = new Tensor?[TensorArguments];
        for (int i = 0; i < TensorArguments; i++) inputs[i] = vars[i] as Tensor;
        var settings = (ScanSettings)vars[TensorArguments];
        var (u, _, _, _, _, _, _, _, _) = Unpack(inputs);
        long batch = u.size(0), dim = u.size(1), state = inputs[2]!.size(1);

        var output = TensorLayout.EmptyLike(u);
        var final = empty(new[] { batch, dim, state }, dtype: ScalarType.Float32, device: u.device);
        var checkpoints = NativeScan.Forward(inputs, settings, output, final);

        // Unused outputs (usually the final state) get no gradient rather than a materialised zero:
        // TorchSharp would build that zero from a cached tensor that our callers' dispose scopes free.
        ctx.set_materialize_grads(false);
        // Only tensors can be saved for autograd; remember which optional ones were there.
        var toSave = inputs.Where(t => t is not null).Select(t => t!).ToList();
        if (checkpoints is not null) toSave.Add(checkpoints);  // last, after the inputs
        ctx.save_for_backward(toSave);
        // The saved variable keeps its own reference; our handle would otherwise pin the checkpoints (100 MB
        // per layer at the 130M training shape) until the garbage collector finalises it: fp32 training of
        // that model ran out of the H200's 140 GB in 30 steps.
        if (checkpoints is not null) DeferredDisposal.Later(new[] { checkpoints });
        ctx.save_data("present", inputs.Select(t => t is not null).ToArray());
        ctx.save_data("settings", settings);
        return new List<Tensor> { output, final };
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        DeferredDisposal.Advance();
        var present = (bool[])ctx.get_data("present");
        var settings = (ScanSettings)ctx.get_data("settings");
        var saved = ctx.get_saved_variables();
        var inputs = new Tensor?[TensorArguments];
        for (int i = 0, k = 0; i < TensorArguments; i++) inputs[i] = present[i] ? saved[k++] : null;

        Tensor? Defined(int i) => gradOutputs.Count > i && !gradOutputs[i].IsInvalid ? gradOutputs[i] : null;
        var dout = Defined(0) ?? zeros(inputs[0]!.shape, dtype: inputs[0]!.dtype, device: inputs[0]!.device);
        Scan.KernelArguments.SameShape(inputs[0]!, "u", dout, "dout");
        Tensor? checkpoints = saved.Count > inputs.Count(t => t is not null) ? saved[^1] : null;
        var grads = NativeScan.Backward(inputs, settings, dout, Defined(1), checkpoints);
        // Our handles on the saved inputs and incoming gradients end here; the returned ones a little later.
        DeferredDisposal.Now(saved.Concat(gradOutputs).Append(dout));
        DeferredDisposal.Later(grads);
        return new List<Tensor>(grads!) { null! }; // null: no gradient (absent input, settings argument)
    }

    private static (Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? deltaBias, Tensor? initial)
        Unpack(Tensor?[] t) => (t[0]!, t[1]!, t[2]!, t[3]!, t[4]!, t[5], t[6], t[7], t[8]);
}
