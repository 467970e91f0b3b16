using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The fused native selective scan as a TorchSharp autograd function. Forward writes only the output
/// and the final state; backward hands the saved inputs back to the native kernel, which recomputes
/// the states instead of reading them from memory.
/// </summary>
/// <remarks>
/// <see cref="Apply"/>(<see cref="ScanTensors"/>, <see cref="ScanSettings"/>) → [output, finalState]. Optional tensors
/// may be null; backward returns one gradient (or null) per argument.
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

    public override string Name => "MambaSelectiveScan";

    /// <summary>Runs the scan under autograd; returns [output, finalState].</summary>
    public static List<Tensor> Apply(in ScanTensors inputs, ScanSettings settings) => apply(inputs.Arguments(settings));

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        DeferredDisposal.Advance();
        var inputs = ScanTensors.FromArguments(vars);
        var settings = (ScanSettings)vars[ScanTensors.Count];
        var u = inputs.U;
        long batch = u.size(0), dim = u.size(1), state = inputs.A.size(1);

        var output = TensorLayout.EmptyLike(u);
        var final = empty(new[] { batch, dim, state }, dtype: ScalarType.Float32, device: u.device);
        var checkpoints = NativeScan.Forward(inputs, settings, output, final);

        // Unused outputs (usually the final state) get no gradient rather than a materialised zero:
        // TorchSharp would build that zero from a cached tensor that our callers' dispose scopes free.
        ctx.set_materialize_grads(false);
        // Only tensors can be saved for autograd; remember which optional ones were there.
        var toSave = inputs.PresentTensors();
        if (checkpoints is not null) toSave.Add(checkpoints);  // last, after the inputs
        ctx.save_for_backward(toSave);
        // The saved variable keeps its own reference; our handle would otherwise pin the checkpoints (100 MB
        // per layer at the 130M training shape) until the garbage collector finalises it: fp32 training of
        // that model ran out of the H200's 140 GB in 30 steps.
        if (checkpoints is not null) DeferredDisposal.Later(new[] { checkpoints });
        ctx.save_data("present", inputs.Present);
        ctx.save_data("settings", settings);
        return new List<Tensor> { output, final };
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        DeferredDisposal.Advance();
        var settings = (ScanSettings)ctx.get_data("settings");
        var saved = ctx.get_saved_variables();
        var inputs = ScanTensors.FromSaved(saved, (int)ctx.get_data("present"));

        Tensor? Defined(int i) => gradOutputs.Count > i && !gradOutputs[i].IsInvalid ? gradOutputs[i] : null;
        var dout = Defined(0) ?? zeros(inputs.U.shape, dtype: inputs.U.dtype, device: inputs.U.device);
        Scan.KernelArguments.SameShape(inputs.U, "u", dout, "dout");
        Tensor? checkpoints = saved.Count > inputs.PresentCount ? saved[^1] : null;
        var grads = NativeScan.Backward(inputs, settings, dout, Defined(1), checkpoints);
        // Our handles on the saved inputs and incoming gradients end here; the returned ones a little later.
        DeferredDisposal.Now(saved.Concat(gradOutputs).Append(dout));
        DeferredDisposal.Later(grads.All());
        return grads.AsGradients(); // null: no gradient (absent input, settings argument)
    }
}
