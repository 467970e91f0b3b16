using Microsoft.ML.Mamba.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Quantization;

/// <summary>
/// A linear projection y = x·Wᵀ (+ bias) with W stored for decoding (<see cref="DecodeWeights"/>): int8 with per-row
/// scales, bf16, or the fp32 weight itself, applied by the native mamba_gemv_cpu with fp32 activations and sums. A
/// snapshot: later changes to the module's weight do not reach it.
/// </summary>
internal sealed class PackedProjection : IDisposable
{
    private readonly Tensor _weight;     // (out, in) contiguous: int8, bf16 or fp32
    private readonly Tensor? _scales;    // (out) fp32, int8 only
    private readonly Tensor? _bias;      // (out) fp32 contiguous

    private PackedProjection(DecodeWeights format, Tensor weight, Tensor? scales, Tensor? bias)
    {
        Format = format;
        _weight = weight;
        _scales = scales;
        _bias = bias;
        Out = weight.size(0);
        In = weight.size(1);
    }

    /// <summary>How the weight is stored.</summary>
    public DecodeWeights Format { get; }

    /// <summary>Input and output sizes.</summary>
    public long In { get; }

    /// <inheritdoc cref="In"/>
    public long Out { get; }

    /// <summary>Bytes one application reads for the weights (and scales).</summary>
    public long WeightBytes => _weight.numel() * _weight.ElementSize + (_scales?.numel() ?? 0) * 4;

    /// <summary>The stored weight, (out, in): int8, bf16 or fp32.</summary>
    internal Tensor Weight => _weight;

    /// <summary>The int8 row scales (out), or null.</summary>
    internal Tensor? Scales => _scales;

    /// <summary>Packs a CPU fp32 weight (out, in) and optional bias (out) into <paramref name="format"/>.</summary>
    /// <param name="weight">(out, in), CPU fp32.</param>
    /// <param name="bias">(out), or null.</param>
    /// <param name="format">The storage.</param>
    /// <param name="name">The projection's name, for error messages.</param>
    public static PackedProjection Pack(Tensor weight, Tensor? bias, DecodeWeights format, string name)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 2) throw new ArgumentException($"{name}: the weight must be (out, in), got [{string.Join(", ", weight.shape)}]", nameof(weight));
        if (weight.device_type != DeviceType.CPU || weight.dtype != ScalarType.Float32)
            throw new ArgumentException($"{name}: packing needs a CPU fp32 weight, got {weight.dtype} on {weight.device}", nameof(weight));
        using var _ = no_grad();
        using var w = weight.detach();   // a handle of its own: disposing it leaves the module's weight alone
        Tensor? b = bias?.detach().to_type(ScalarType.Float32).contiguous().clone().DetachFromDisposeScope();
        switch (format)
        {
            case DecodeWeights.Float32:
                return new PackedProjection(format, w.contiguous().DetachFromDisposeScope(), null, b);
            case DecodeWeights.BFloat16:
                return new PackedProjection(format, w.to_type(ScalarType.BFloat16).contiguous().DetachFromDisposeScope(), null, b);
            case DecodeWeights.Int8:
            {
                using var source = w.contiguous();
                long rows = source.size(0), cols = source.size(1);
                var q = empty(rows, cols, dtype: ScalarType.Int8).DetachFromDisposeScope();
                var scales = empty(rows, dtype: ScalarType.Float32).DetachFromDisposeScope();
                int status = NativeMethods.mamba_quantize_int8_cpu(rows, cols, TorchSharpNative.DataPointer(source), cols,
                    TorchSharpNative.DataPointer(q), TorchSharpNative.DataPointer(scales));
                if (status != 0)
                {
                    q.Dispose(); scales.Dispose(); b?.Dispose();
                }
                NativeMethods.Check(status, $"quantizing {name} to int8");
                return new PackedProjection(format, q, scales, b);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, "not a DecodeWeights value");
        }
    }

    /// <summary>y = x·Wᵀ + bias (+ <paramref name="add"/>), fp32 (batch, out).</summary>
    /// <param name="x">(batch, in) on the CPU; converted to contiguous fp32 rows when it is not.</param>
    /// <param name="add">(batch, out) added to the result (the block's residual), or null.</param>
    public Tensor Apply(Tensor x, Tensor? add = null)
    {
        if (x.dim() != 2 || x.size(1) != In)
            throw new ArgumentException($"expected input (batch, {In}), got [{string.Join(", ", x.shape)}]", nameof(x));
        if (x.device_type != DeviceType.CPU || add is { device_type: not DeviceType.CPU })
            throw new ArgumentException($"packed projections run on the CPU; the input is on {x.device}", nameof(x));
        long batch = x.size(0);
        var xs = x.dtype == ScalarType.Float32 && x.stride(1) == 1 ? x : x.to_type(ScalarType.Float32).contiguous();
        Tensor? adds = null;
        if (add is not null)
        {
            if (add.dim() != 2 || add.size(0) != batch || add.size(1) != Out)
                throw new ArgumentException($"expected the added tensor (batch, {Out}) = ({batch}, {Out}), got [{string.Join(", ", add.shape)}]", nameof(add));
            adds = add.dtype == ScalarType.Float32 && add.stride(1) == 1 ? add : add.to_type(ScalarType.Float32).contiguous();
        }
        var y = empty(batch, Out, dtype: ScalarType.Float32);
        var args = new NativeGemvArgs
        {
            batch = batch, @in = In, @out = Out,
            weight_format = (int)NativeFormat(Format),
            x = TorchSharpNative.DataPointer(xs), x_row_stride = xs.stride(0),
            weight = TorchSharpNative.DataPointer(_weight),
            scales = TorchSharpNative.DataPointer(_scales, IntPtr.Zero),
            bias = TorchSharpNative.DataPointer(_bias, IntPtr.Zero),
            add = TorchSharpNative.DataPointer(adds, IntPtr.Zero), add_row_stride = adds?.stride(0) ?? 0,
            y = TorchSharpNative.DataPointer(y), y_row_stride = y.stride(0),
        };
        NativeMethods.Check(NativeMethods.Gemv(args), "quantized projection");
        return y;
    }

    /// <summary>The C ABI's mamba_weight_format of <paramref name="format"/>.</summary>
    internal static NativeWeightFormat NativeFormat(DecodeWeights format) => format switch
    {
        DecodeWeights.Int8 => NativeWeightFormat.Int8,
        DecodeWeights.BFloat16 => NativeWeightFormat.BF16,
        _ => NativeWeightFormat.F32,
    };

    /// <summary>Releases the packed copies (for fp32, its own handle of the module's weight).</summary>
    public void Dispose()
    {
        _weight.Dispose();
        _scales?.Dispose();
        _bias?.Dispose();
    }
}
