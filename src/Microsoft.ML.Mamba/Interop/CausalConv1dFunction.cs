using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The fused native causal depthwise conv1d (+ optional SiLU) as an autograd function.
/// apply(x (B,D,L), weight (D,W) fp32, bias (D) fp32 or null, bool silu) → [output (B,D,L)].
/// </summary>
internal sealed unsafe class CausalConv1dFunction : autograd.MultiTensorFunction<CausalConv1dFunction>
{
    public override string Name => "MambaCausalConv1d";

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        DeferredDisposal.Advance();
        var x = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        var bias = vars[2] as Tensor;
        bool silu = (bool)vars[3];
        var output = TensorLayout.EmptyLike(x);
        var args = MakeArgs(x, weight, bias, silu);
        long* outStride = stackalloc long[3];
        TensorLayout.CopyStrides(output, outStride, 3);
        int status = x.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_conv1d_fwd_cuda(&args, TorchSharpNative.DataPointer(output), outStride, IntPtr.Zero)
            : NativeMethods.mamba_conv1d_fwd_cpu(&args, TorchSharpNative.DataPointer(output), outStride);
        NativeMethods.Check(status, "causal conv1d forward");
        ctx.set_materialize_grads(false); // see SelectiveScanFunction
        ctx.save_for_backward(bias is null ? new List<Tensor> { x, weight } : new List<Tensor> { x, weight, bias });
        ctx.save_data("silu", silu);
        return new List<Tensor> { output };
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        DeferredDisposal.Advance();
        var saved = ctx.get_saved_variables();
        Tensor x = saved[0], weight = saved[1];
        Tensor? bias = saved.Count > 2 ? saved[2] : null;
        bool silu = (bool)ctx.get_data("silu");
        var dout = gradOutputs[0].IsInvalid ? zeros_like(x) : gradOutputs[0];
        Scan.KernelArguments.SameShape(x, "x", dout, "dout");
        var dx = TensorLayout.EmptyLike(x);
        var dweight = empty(weight.size(0), weight.size(1), dtype: ScalarType.Float32, device: x.device);
        Tensor? dbias = bias is null ? null : empty(bias.size(0), dtype: ScalarType.Float32, device: x.device);
        var args = MakeArgs(x, weight, bias, silu);
        long* doutStride = stackalloc long[3];
        long* dxStride = stackalloc long[3];
        TensorLayout.CopyStrides(dout, doutStride, 3);
        TensorLayout.CopyStrides(dx, dxStride, 3);
        var dbiasPtr = TorchSharpNative.DataPointer(dbias, IntPtr.Zero);
        int status = x.device_type == DeviceType.CUDA
            ? NativeMethods.mamba_conv1d_bwd_cuda(&args, TorchSharpNative.DataPointer(dout), doutStride,
                TorchSharpNative.DataPointer(dx), dxStride, TorchSharpNative.DataPointer(dweight), dbiasPtr, IntPtr.Zero)
            : NativeMethods.mamba_conv1d_bwd_cpu(&args, TorchSharpNative.DataPointer(dout), doutStride,
                TorchSharpNative.DataPointer(dx), dxStride, TorchSharpNative.DataPointer(dweight), dbiasPtr);
        NativeMethods.Check(status, "causal conv1d backward");
        DeferredDisposal.Now(saved.Concat(gradOutputs).Append(dout)); // see DeferredDisposal
        DeferredDisposal.Later(new[] { dx, dweight, dbias });
        return new List<Tensor> { dx, dweight, dbias!, null! };
    }

    private static NativeConvArgs MakeArgs(Tensor x, Tensor weight, Tensor? bias, bool silu)
    {
        var args = new NativeConvArgs
        {
            batch = x.size(0), dim = x.size(1), length = x.size(2), width = weight.size(1),
            dtype = (int)TorchSharpNative.DType(x), silu = silu ? 1 : 0,
            x = TorchSharpNative.DataPointer(x),
            weight = TorchSharpNative.DataPointer(weight),
            bias = TorchSharpNative.DataPointer(bias, IntPtr.Zero),
        };
        for (int i = 0; i < 3; i++) args.x_stride[i] = x.stride(i);  // stride(i): no array round trip
        return args;
    }
}
