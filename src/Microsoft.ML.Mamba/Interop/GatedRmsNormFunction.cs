using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Mamba-2's gated RMSNorm, norm(y · SiLU(z)) · weight, as one autograd function on the CPU or CUDA: a native forward
/// that keeps each group's 1/rms and a native backward that recomputes y · SiLU(z). The TorchSharp form runs about a
/// dozen fp32 tensor ops forward and more backward, each writing a copy of the activations.
/// apply(y (…, size) contiguous, z shaped and typed like y, contiguous, weight (size) contiguous fp32, long groups,
/// double eps) → [output of y's dtype].
/// </summary>
internal sealed class GatedRmsNormFunction : autograd.MultiTensorFunction<GatedRmsNormFunction>
{
    /// <summary>Largest row the native pair takes (the CUDA backward keeps a row of dweight partials in shared memory).</summary>
    public const long MaxSize = 12288;

    public override string Name => "MambaGatedRmsNorm";

    /// <summary>The forward alone, without autograd (decoding and inference).</summary>
    public static Tensor Forward(Tensor y, Tensor z, Tensor weight, long groups, double eps) =>
        Run(y, z, weight, groups, eps, rstd: null);

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        DeferredDisposal.Advance();
        var y = (Tensor)vars[0];
        var z = (Tensor)vars[1];
        var weight = (Tensor)vars[2];
        long groups = (long)vars[3];
        double eps = (double)vars[4];
        long size = y.size(-1);
        var rstd = empty(y.numel() / size * groups, dtype: ScalarType.Float32, device: y.device);
        var output = Run(y, z, weight, groups, eps, rstd);
        ctx.set_materialize_grads(false); // see SelectiveScanFunction
        ctx.save_for_backward(new List<Tensor> { y, z, weight, rstd });
        ctx.save_data("groups", groups);
        DeferredDisposal.Later(new[] { rstd });  // the saved variable holds its own reference (see SelectiveScanFunction)
        return new List<Tensor> { output };
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        DeferredDisposal.Advance();
        var saved = ctx.get_saved_variables();
        Tensor y = saved[0], z = saved[1], weight = saved[2], rstd = saved[3];
        long groups = (long)ctx.get_data("groups");
        var dout = gradOutputs[0].IsInvalid ? zeros_like(y) : gradOutputs[0].contiguous();
        Scan.KernelArguments.SameShape(y, "y", dout, "dout");
        if (dout.dtype != y.dtype) dout = dout.to_type(y.dtype);
        long size = y.size(-1), rows = y.numel() / size;
        var dy = empty_like(y);
        var dz = empty_like(z);
        var dweight = empty_like(weight);
        int dtype = (int)TorchSharpNative.DType(y);
        IntPtr P(Tensor t) => TorchSharpNative.DataPointer(t);
        int status = y.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_gated_rms_norm_bwd_cuda(rows, size, groups, dtype, P(y), P(z), P(weight), P(rstd), P(dout),
                P(dy), P(dz), P(dweight), IntPtr.Zero)
            : NativeMethods.mamba_gated_rms_norm_bwd_cpu(rows, size, groups, dtype, P(y), P(z), P(weight), P(rstd), P(dout),
                P(dy), P(dz), P(dweight));
        NativeMethods.Check(status, "gated rms norm backward");
        DeferredDisposal.Now(saved.Concat(gradOutputs).Append(dout)); // see DeferredDisposal
        DeferredDisposal.Later(new[] { dy, dz, dweight });
        return new List<Tensor> { dy, dz, dweight, null!, null! };
    }

    private static Tensor Run(Tensor y, Tensor z, Tensor weight, long groups, double eps, Tensor? rstd)
    {
        long size = y.size(-1), rows = y.numel() / size;
        var output = empty_like(y);
        int dtype = (int)TorchSharpNative.DType(y);
        IntPtr P(Tensor t) => TorchSharpNative.DataPointer(t);
        IntPtr r = TorchSharpNative.DataPointer(rstd, IntPtr.Zero);
        int status = y.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_gated_rms_norm_fwd_cuda(rows, size, groups, dtype, P(y), P(z), P(weight), (float)eps, P(output), r, IntPtr.Zero)
            : NativeMethods.mamba_gated_rms_norm_fwd_cpu(rows, size, groups, dtype, P(y), P(z), P(weight), (float)eps, P(output), r);
        NativeMethods.Check(status, "gated rms norm forward");
        return output;
    }
}
