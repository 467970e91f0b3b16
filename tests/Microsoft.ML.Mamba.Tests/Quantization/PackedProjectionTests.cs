using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Quantization;

/// <summary>The packed projections of CPU decoding (int8 with row scales, bf16, fp32) against fp64 arithmetic.</summary>
public sealed class PackedProjectionTests : IDisposable
{
    // Tests run in parallel: drawing from TorchSharp's global generator would change other tests' seeded models.
    private readonly Generator G = new(7);

    /// <summary>Releases the generator.</summary>
    public void Dispose() => G.Dispose();

    // Rows of very different magnitudes, so that one scale for the whole matrix would not do.
    private static Tensor Weight(long rows, long cols, int seed)
    {
        using var g = new Generator((ulong)seed);
        var magnitudes = pow(10.0, (arange(rows, dtype: ScalarType.Float32) % 7) - 3).unsqueeze(1);
        return randn(rows, cols, generator: g) * magnitudes;
    }

    /// <summary>What the packed weight stands for, in fp64.</summary>
    private static Tensor Dequantized(PackedProjection p) => p.Format == DecodeWeights.Int8
        ? p.Weight.to_type(ScalarType.Float64) * p.Scales!.to_type(ScalarType.Float64).unsqueeze(1)
        : p.Weight.to_type(ScalarType.Float64);

    [Fact]
    public void Int8RoundTripIsWithinHalfAStepPerRow()
    {
        using var _ = NewDisposeScope();
        var w = Weight(101, 37, 1);
        w[7].zero_();   // an all-zero row gets scale 0 and zeros
        using var p = PackedProjection.Pack(w, null, DecodeWeights.Int8, "w");
        Assert.Equal(ScalarType.Int8, p.Weight.dtype);
        var q = TensorData.To2(p.Weight);
        var scales = TensorData.Flat(p.Scales!);
        var original = TensorData.To2(w);
        for (int r = 0; r < 101; r++)
        {
            double maxAbs = 0, peak = 0;
            for (int i = 0; i < 37; i++) maxAbs = Math.Max(maxAbs, Math.Abs(original[r, i]));
            Assert.Equal(maxAbs / 127, scales[r], maxAbs * 1e-7);
            for (int i = 0; i < 37; i++)
            {
                peak = Math.Max(peak, Math.Abs(q[r, i]));
                Assert.True(Math.Abs(scales[r] * q[r, i] - original[r, i]) <= 0.5 * scales[r] * (1 + 1e-5),
                    $"row {r} col {i}: {original[r, i]} became {scales[r]} * {q[r, i]}");
            }
            Assert.Equal(r == 7 ? 0 : 127, peak);
        }
        Assert.Equal(101 * 37 + 101 * 4, p.WeightBytes);
    }

    [Theory]
    [InlineData(DecodeWeights.Int8, 1)]
    [InlineData(DecodeWeights.Int8, 3)]
    [InlineData(DecodeWeights.BFloat16, 1)]
    [InlineData(DecodeWeights.BFloat16, 3)]
    [InlineData(DecodeWeights.Float32, 3)]
    public void ProductMatchesFp64(DecodeWeights format, int batch)
    {
        using var _ = NewDisposeScope();
        const int inputs = 37, outputs = 101;
        var w = Weight(outputs, inputs, 2);
        var bias = randn(outputs, generator: G);
        using var p = PackedProjection.Pack(w, bias, format, "w");
        // x as a view whose rows are 50 elements apart (the kernel takes a row stride; the last axis is contiguous).
        var x = randn(batch, 50, generator: G).narrow(1, 5, inputs);
        var add = randn(batch, outputs, generator: G);
        var y = p.Apply(x, add);
        var wd = Dequantized(p);
        var want = x.to_type(ScalarType.Float64).matmul(wd.t()) + bias.to_type(ScalarType.Float64) + add.to_type(ScalarType.Float64);
        // fp32 sums of 37 terms: a few ulps of the terms' magnitudes.
        var magnitude = x.to_type(ScalarType.Float64).abs().matmul(wd.abs().t()) + add.abs() + bias.abs();
        var excess = ((y.to_type(ScalarType.Float64) - want).abs() - magnitude * 2e-6).max().item<double>();
        Assert.True(excess <= 0, $"{format}, batch {batch}: worst error exceeds the bound by {excess}");
        Assert.Equal(new long[] { batch, outputs }, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
    }

    [Fact]
    public void Int8ProductIsCloseToTheFp32Product()
    {
        // The end-to-end error of weight-only int8: at most half a step per weight, so |Δy| <= Σ |x| * scale / 2.
        using var _ = NewDisposeScope();
        var w = randn(64, 96, generator: G) * 0.05;
        using var p = PackedProjection.Pack(w, null, DecodeWeights.Int8, "w");
        var x = randn(2, 96, generator: G);
        var bound = x.abs().sum(1, keepdim: true) * p.Scales!.unsqueeze(0) * 0.5 * (1 + 1e-4) + 1e-5;
        var error = (p.Apply(x) - x.matmul(w.t())).abs();
        Assert.True((error <= bound).all().item<bool>());
        // ...and it is not exact: the test would notice the fp32 weights being used instead.
        Assert.True(error.max().item<float>() > 0);
    }

    [Fact]
    public void ShapesAndValuesAreChecked()
    {
        using var _ = NewDisposeScope();
        using var p = PackedProjection.Pack(randn(5, 3, generator: G), null, DecodeWeights.Int8, "in_proj");
        Assert.Contains("(batch, 3)", Assert.Throws<ArgumentException>(() => p.Apply(randn(2, 4, generator: G))).Message);
        Assert.Contains("(2, 5)", Assert.Throws<ArgumentException>(() => p.Apply(randn(2, 3, generator: G), randn(2, 6, generator: G))).Message);
        Assert.Contains("CPU fp32", Assert.Throws<ArgumentException>(() => PackedProjection.Pack(randn(5, 3, generator: G).to_type(ScalarType.BFloat16), null, DecodeWeights.Int8, "x_proj")).Message);
        var bad = randn(4, 3, generator: G);
        bad[2, 1] = tensor(float.NaN);
        var e = Assert.Throws<MambaNativeException>(() => PackedProjection.Pack(bad, null, DecodeWeights.Int8, "out_proj"));
        Assert.Contains("out_proj", e.Message);
        Assert.Contains("weight[2, 1]", e.Message);
    }

    [Fact]
    public void NativeGemvRejectsBadArgumentsBeforeWriting()
    {
        using var _ = NewDisposeScope();
        var x = randn(2, 5, generator: G);
        var q = ones(3, 5, dtype: ScalarType.Int8);
        var scales = ones(3);
        var y = full(2, 3, 7f);
        var ok = new NativeGemvArgs
        {
            batch = 2, @in = 5, @out = 3, weight_format = (int)NativeWeightFormat.Int8,
            x = TorchSharpNative.DataPointer(x), x_row_stride = 5, weight = TorchSharpNative.DataPointer(q),
            scales = TorchSharpNative.DataPointer(scales), y = TorchSharpNative.DataPointer(y), y_row_stride = 3,
        };
        void Expect(NativeGemvArgs a, string word)
        {
            Assert.Equal((int)NativeStatus.InvalidArgument, NativeMethods.Gemv(a));
            var e = Assert.Throws<MambaNativeException>(() => NativeMethods.Check(NativeMethods.Gemv(a), "gemv"));
            Assert.Contains(word, e.Message);
            Assert.True(y.eq(7f).all().item<bool>(), $"{word}: y was written");
        }
        Expect(ok with { scales = IntPtr.Zero }, "scales is NULL");
        Expect(ok with { y_row_stride = 2 }, "rows would overlap");
        Expect(ok with { @in = 0 }, "in=0");
        Expect(ok with { x = IntPtr.Zero }, "x is NULL");
        Expect(ok with { weight_format = (int)NativeWeightFormat.BF16 }, "scales must be NULL");
        Assert.Equal(0, NativeMethods.Gemv(ok));
        Assert.True((y - x.sum(1, keepdim: true)).abs().max().item<float>() < 1e-5);   // all weights 1, scales 1
    }
}
