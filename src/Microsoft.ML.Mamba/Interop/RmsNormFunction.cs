using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// RMSNorm for CUDA training as one autograd function: a native forward that keeps each row's 1/rms, and a
/// native backward. TorchSharp's differentiable form launches about eight kernels forward and a dozen backward
/// per norm, in fp32 copies of the activations.
/// apply(x (..., size) contiguous, weight (size) contiguous, of x's dtype, double eps) → [output].
/// </summary>
internal sealed unsafe class RmsNormFunction : autograd.MultiTensorFunction<RmsNormFunction>
{
    /// <summary>Largest normalised size the CUDA backward takes (its dweight partial lives in shared memory).</summary>
    public const long MaxSize = 12288;

    public override string Name => "MambaRmsNorm";

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        DeferredDisposal.Advance();
        var x = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        double eps = (double)vars[2];
        long size = x.size((int)x.dim() - 1), rows = x.numel() / size;
        var output = empty_like(x);
        var rstd = empty(rows, dtype: ScalarType.Float32, device: x.device);
        int status = NativeMethods.mamba_rms_norm_train_fwd_cuda(rows, size, (int)TorchSharpNative.DType(x),
            TorchSharpNative.DataPointer(x), TorchSharpNative.DataPointer(weight), (float)eps,
            TorchSharpNative.DataPointer(output), TorchSharpNative.DataPointer(rstd), IntPtr.Zero);
        NativeMethods.Check(status, "rms norm forward");
        ctx.set_materialize_grads(false); // see SelectiveScanFunction
        ctx.save_for_backward(new List<Tensor> { x, weight, rstd });
        DeferredDisposal.Later(new[] { rstd });  // the saved variable holds its own reference (see SelectiveScanFunction)
        return new List<Tensor> { output };
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        DeferredDisposal.Advance();
        var saved = ctx.get_saved_variables();
        Tensor x = saved[0], weight = saved[1], rstd = saved[2];
        var dout = gradOutputs[0].IsInvalid ? zeros_like(x) : gradOutputs[0].contiguous();
        Scan.KernelArguments.SameShape(x, "x", dout, "dout");
        long size = x.size((int)x.dim() - 1), rows = x.numel() / size;
        var dx = empty_like(x);
        var dweight = empty_like(weight);
        int status = NativeMethods.mamba_rms_norm_train_bwd_cuda(rows, size, (int)TorchSharpNative.DType(x),
            TorchSharpNative.DataPointer(x), TorchSharpNative.DataPointer(weight), TorchSharpNative.DataPointer(rstd),
            TorchSharpNative.DataPointer(dout), TorchSharpNative.DataPointer(dx), TorchSharpNative.DataPointer(dweight), IntPtr.Zero);
        NativeMethods.Check(status, "rms norm backward");
        DeferredDisposal.Now(saved.Concat(gradOutputs).Append(dout)); // see DeferredDisposal
        DeferredDisposal.Later(new[] { dx, dweight });
        return new List<Tensor> { dx, dweight, null! };
    }
}
