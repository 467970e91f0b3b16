using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// TorchSharp's <see cref="AdamW"/> with the update of every parameter done by one native call (one CUDA launch
/// per 128 tensors), where TorchSharp issues about ten tensor operations per parameter: for a Mamba-130M model
/// that is some 2,000 launches per step, and their host time alone is a fifth of an H200 training step.
/// Same parameter groups, options, state tensors and state_dict; the update is the same formula, computed in fp32
/// per element (TorchSharp rounds after each operation, which for bf16 parameters differs in the last bits).
/// </summary>
/// <remarks>
/// Falls back to TorchSharp's step, for the whole step, when libmamba_native is missing, with amsgrad or maximize,
/// a closure, parameters on several devices, sparse gradients, non-contiguous tensors or dtypes other than fp32/fp16/bf16.
/// A gradient or state tensor of another size or device than its parameter throws <see cref="ArgumentException"/>.
/// </remarks>
public sealed class FusedAdamW : AdamW
{
    /// <summary>An optimizer over parameter groups, each with its own options (for example no weight decay on norms).</summary>
    /// <param name="groups">The parameter groups; options a group leaves unset take the values below.</param>
    /// <param name="lr">Learning rate.</param>
    /// <param name="beta1">Decay of the running mean of gradients.</param>
    /// <param name="beta2">Decay of the running mean of squared gradients.</param>
    /// <param name="eps">Added to the denominator for numerical stability.</param>
    /// <param name="weightDecay">Decoupled weight decay (AdamW), as a fraction of the learning rate.</param>
    public FusedAdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0)
        : base(groups, lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>An optimizer over one group of parameters.</summary>
    /// <param name="parameters">The parameters to update, for example <c>model.parameters()</c>.</param>
    /// <param name="lr">Learning rate.</param>
    /// <param name="beta1">Decay of the running mean of gradients.</param>
    /// <param name="beta2">Decay of the running mean of squared gradients.</param>
    /// <param name="eps">Added to the denominator for numerical stability.</param>
    /// <param name="weightDecay">Decoupled weight decay (AdamW), as a fraction of the learning rate.</param>
    public FusedAdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>Why the last <see cref="step"/> used TorchSharp's update instead, or null when it was fused.</summary>
    public string? LastFallbackReason { get; private set; }

    /// <summary>
    /// Updates every parameter that has a gradient: fused when it can, otherwise with TorchSharp's step (see
    /// <see cref="LastFallbackReason"/>; the first time for each reason is logged through <see cref="MambaLog"/>).
    /// </summary>
    /// <param name="closure">Re-evaluates the loss; giving one always takes TorchSharp's step.</param>
    /// <returns>The closure's loss, or null without a closure.</returns>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        LastFallbackReason = closure is not null ? "a closure was given" : TryFusedStep();
        if (LastFallbackReason is null) return null!;
        MambaLog.WarningOnce("adamw:" + LastFallbackReason, $"fused AdamW not used ({LastFallbackReason}); using TorchSharp's AdamW step");
        return base.step(closure!);
    }

    // Null when done; else the reason, with nothing changed.
    private string? TryFusedStep()
    {
        if (!NativeLibraryLoader.IsLoaded) return "libmamba_native not loaded";
        var work = new List<(Parameter Param, Tensor Grad, State State, Options Options)>();
        try
        {
            return Collect(work) ?? Run(work);
        }
        finally
        {
            foreach (var item in work) item.Grad.Dispose();  // our handles on the gradients, not the gradients
        }
    }

    // The parameters with gradients, or why the fused step cannot take them.
    private string? Collect(List<(Parameter Param, Tensor Grad, State State, Options Options)> work)
    {
        Device? device = null;
        foreach (var group in _parameter_groups)
        {
            var options = (Options)group.Options;
            if (options.amsgrad == true || options.maximize == true) return "amsgrad or maximize";
            foreach (var p in group.Parameters)
            {
                var grad = p.grad;
                if (grad is null) continue;
                var state = (State)_state[p.Handle];
                work.Add((p, grad, state, options));
                if (device is null) device = p.device;
                else if (p.device_type != device.type || p.device_index != device.index) return "parameters on several devices";
                if (grad.is_sparse) return "a sparse gradient";
                CheckLike(p, grad, "grad", work.Count - 1);
                CheckLike(p, state.exp_avg, "exp_avg", work.Count - 1);
                CheckLike(p, state.exp_avg_sq, "exp_avg_sq", work.Count - 1);
                if (!p.is_contiguous() || !grad.is_contiguous() || !state.exp_avg.is_contiguous() || !state.exp_avg_sq.is_contiguous())
                    return "a non-contiguous parameter, gradient or state";
                if (!IsFloat(p.dtype) || !IsFloat(grad.dtype) || state.exp_avg.dtype != p.dtype || state.exp_avg_sq.dtype != p.dtype)
                    return "a parameter dtype other than fp32, fp16 or bf16";
            }
        }
        if (device is null) return null;  // no gradients: nothing to do, as in TorchSharp
        if (device.type == DeviceType.CUDA && !NativeLibraryLoader.HasCuda) return "libmamba_native has no CUDA kernels";
        if (device.type is not (DeviceType.CUDA or DeviceType.CPU)) return $"device {device.type}";
        return null;
    }

    // Bumps each parameter's step count and updates them all in one native call.
    private static unsafe string? Run(List<(Parameter Param, Tensor Grad, State State, Options Options)> work)
    {
        if (work.Count == 0) return null;
        bool cuda = work[0].Param.device_type == DeviceType.CUDA;

        var tensors = new NativeAdamWTensor[work.Count];
        for (int i = 0; i < work.Count; i++)
        {
            var (p, grad, state, o) = work[i];
            state.step += 1;
            double lr = o.LearningRate!.Value, beta1 = o.beta1!.Value, beta2 = o.beta2!.Value;
            tensors[i] = new NativeAdamWTensor
            {
                param = TorchSharpNative.DataPointer(p), grad = TorchSharpNative.DataPointer(grad),
                exp_avg = TorchSharpNative.DataPointer(state.exp_avg), exp_avg_sq = TorchSharpNative.DataPointer(state.exp_avg_sq),
                numel = p.numel(), dtype = (int)TorchSharpNative.DType(p), grad_dtype = (int)TorchSharpNative.DType(grad),
                decay = (float)(1 - lr * o.weight_decay!.Value),
                beta1 = (float)beta1, one_minus_beta1 = (float)(1 - beta1),
                beta2 = (float)beta2, one_minus_beta2 = (float)(1 - beta2),
                eps = (float)o.eps!.Value,
                step_size = (float)(lr / (1 - Math.Pow(beta1, state.step))),
                bias_correction2_sqrt = (float)Math.Sqrt(1 - Math.Pow(beta2, state.step)),
            };
        }
        fixed (NativeAdamWTensor* ptr = tensors)
        {
            int status = cuda
                ? NativeMethods.mamba_adamw_step_cuda(ptr, tensors.Length, IntPtr.Zero)
                : NativeMethods.mamba_adamw_step_cpu(ptr, tensors.Length);
            NativeMethods.Check(status, "fused AdamW step");
        }
        return null;
    }

    // The native step walks p.numel() elements of all four buffers on p's device: a smaller or foreign buffer would be
    // overrun, so a mismatch (a corrupt optimizer state) is an error, not a reason to fall back.
    private static void CheckLike(Tensor p, Tensor t, string name, int index)
    {
        if (t.numel() != p.numel() || t.device_type != p.device_type || t.device_index != p.device_index)
            throw new ArgumentException(
                $"{name} of parameter {index} has {t.numel()} elements on {t.device}, but the parameter has {p.numel()} on {p.device}", name);
    }

    private static bool IsFloat(ScalarType t) => t is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;
}
