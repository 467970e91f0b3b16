using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The fused native SSD scan (Mamba-2) as a TorchSharp autograd function. Forward writes y and the final state, and on
/// CUDA with <see cref="SsdSettings.KeepCheckpoints"/> also keeps the chunk states for the backward; otherwise the
/// backward recomputes them from the saved inputs.
/// </summary>
/// <remarks>
/// <see cref="Apply"/>(<see cref="SsdTensors"/>, <see cref="SsdSettings"/>) → [y, finalState]. Optional tensors may be
/// null; backward returns one gradient (or null) per argument.
/// </remarks>
internal sealed class StateSpaceDualFunction : autograd.MultiTensorFunction<StateSpaceDualFunction>
{
    /// <param name="DtSoftplus">Apply softplus to Δ (after its bias) inside the kernel.</param>
    /// <param name="DtMin">Lower clamp of Δ after softplus.</param>
    /// <param name="DtMax">Upper clamp of Δ after softplus.</param>
    /// <param name="Chunk">Chunk length of the chunked form (1..1024).</param>
    /// <param name="Deterministic">Backward without atomics (CUDA; the CPU kernels always are).</param>
    /// <param name="KeepCheckpoints">
    /// The CUDA forward keeps dt, its cumulative sums, C·B and the state entering each 64-step chunk (in the input
    /// dtype: about (batch, heads, length / 64 + 1, head_dim, state) elements, 57 MB per layer for Mamba2-130m at
    /// batch 8 × 1024 in bf16) and the backward skips the kernels that would recompute them; the gradients are bitwise
    /// the same. Only when a backward will run.
    /// </param>
    public sealed record SsdSettings(bool DtSoftplus, double DtMin, double DtMax, int Chunk, bool Deterministic,
        bool KeepCheckpoints = false);

    public override string Name => "MambaStateSpaceDual";

    /// <summary>Runs the scan under autograd; returns [y, finalState].</summary>
    public static List<Tensor> Apply(in SsdTensors inputs, SsdSettings settings) => apply(inputs.Arguments(settings));

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        DeferredDisposal.Advance();
        var inputs = SsdTensors.FromArguments(vars);
        var settings = (SsdSettings)vars[SsdTensors.Count];
        var x = inputs.X;
        var y = empty(new[] { x.size(0), x.size(1), x.size(2), x.size(3) }, dtype: x.dtype, device: x.device);
        var final = empty(new[] { x.size(0), x.size(2), x.size(3), inputs.B.size(3) }, dtype: ScalarType.Float32, device: x.device);
        var checkpoints = NativeSsd.Forward(inputs, settings, y, final);
        // Unused outputs (usually the final state) get no gradient rather than a materialised zero.
        ctx.set_materialize_grads(false);
        var toSave = inputs.PresentTensors();
        if (checkpoints is not null) toSave.Add(checkpoints);  // last, after the inputs
        ctx.save_for_backward(toSave);
        // The saved variable keeps its own reference; ours would pin the checkpoints until a finaliser ran.
        if (checkpoints is not null) DeferredDisposal.Later(new[] { checkpoints });
        ctx.save_data("present", inputs.Present);
        ctx.save_data("settings", settings);
        return new List<Tensor> { y, final };
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        DeferredDisposal.Advance();
        var settings = (SsdSettings)ctx.get_data("settings");
        var saved = ctx.get_saved_variables();
        var inputs = SsdTensors.FromSaved(saved, (int)ctx.get_data("present"));
        Tensor? Defined(int i) => gradOutputs.Count > i && !gradOutputs[i].IsInvalid ? gradOutputs[i] : null;
        var x = inputs.X;
        var dy = Defined(0) ?? zeros(new[] { x.size(0), x.size(1), x.size(2), x.size(3) }, dtype: x.dtype, device: x.device);
        Scan.KernelArguments.SameShape(x, "x", dy, "dy");
        Tensor? checkpoints = saved.Count > inputs.PresentCount ? saved[^1] : null;
        var grads = NativeSsd.Backward(inputs, settings, dy, Defined(1), checkpoints);
        DeferredDisposal.Now(saved.Concat(gradOutputs).Append(dy));
        DeferredDisposal.Later(grads.All());
        return grads.AsGradients();
    }
}
