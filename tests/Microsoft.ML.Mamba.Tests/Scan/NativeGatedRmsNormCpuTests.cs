using System.Runtime.InteropServices;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The native gated RMSNorm of Mamba-2 on the CPU (forward and backward) against the fp64 reference, its
/// determinism, its argument checks in C# and in the C ABI, and the mixer's use of it.</summary>
public class NativeGatedRmsNormCpuTests
{
    private static NativeKernels Native() => NativeUnderTest.Kernels();

    public static TheoryData<long[], long> Shapes => new()
    {
        { new long[] { 1, 2 }, 1 },
        { new long[] { 3, 7, 40 }, 1 },
        { new long[] { 3, 7, 40 }, 5 },        // groups of 8
        { new long[] { 2, 5, 300 }, 3 },       // groups of 100: not a multiple of any vector width
        { new long[] { 5, 77, 24 }, 2 },       // 385 rows: several row blocks, the last one short
        { new long[] { 2, 3, 1536 }, 1 },      // mamba2-130m's width
        { new long[] { 1, 12288 }, 4 },        // the largest size the native pair takes
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Fp32MatchesTheFp64Reference(long[] shape, long groups) =>
        GatedRmsNormComparison.MatchesReference(Native(), CPU, ScalarType.Float32, shape, groups, seed: 1, 2e-6, 1e-5);

    [Fact]
    public void GroupsOfOneValueGiveTheWeightTimesTheSign()
    {
        // h / sqrt(h² + eps) · w: ±w wherever |h| is well above sqrt(eps); the gradients (near zero, by cancellation) stay finite.
        var r = GatedRmsNormComparison.Run(Native(), CPU, ScalarType.Float32, new long[] { 5, 6 }, 6, seed: 9);
        var reference = GatedRmsNormComparison.Run(new ReferenceKernels(), CPU, ScalarType.Float32, new long[] { 5, 6 }, 6, seed: 9);
        TensorData.AssertClose(r.Output, reference.Output, 1e-6, 1e-6, "output");
        Assert.All(r.DY.Concat(r.DZ).Concat(r.DWeight), v => Assert.True(double.IsFinite(v)));
        TensorData.AssertClose(r.DWeight, reference.DWeight, 1e-5, 1e-5, "dweight");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 1.6e-2, 3e-2)]
    [InlineData(ScalarType.Float16, 2e-3, 4e-3)]
    public void HalfDtypesMatchTheFp64Reference(ScalarType dtype, double tolerance, double gradTolerance)
    {
        GatedRmsNormComparison.MatchesReference(Native(), CPU, dtype, new long[] { 4, 9, 96 }, 1, seed: 2, tolerance, gradTolerance);
        GatedRmsNormComparison.MatchesReference(Native(), CPU, dtype, new long[] { 4, 9, 96 }, 6, seed: 3, tolerance, gradTolerance);
    }

    [Fact]
    public void Bf16OutputIsTheReferencesRoundingOfTheSameValues()
    {
        // The reference rounds n to bf16, multiplies by the fp32 weight and rounds again; the fused forward does the
        // same, so the outputs differ only where the fp32 sums of squares differ in their last bits.
        var shape = new long[] { 6, 11, 64 };
        var native = GatedRmsNormComparison.Run(Native(), CPU, ScalarType.BFloat16, shape, 2, seed: 4);
        var reference = GatedRmsNormComparison.Run(new ReferenceKernels(), CPU, ScalarType.BFloat16, shape, 2, seed: 4);
        int differ = native.Output.Zip(reference.Output).Count(p => p.First != p.Second);
        Assert.True(differ <= native.Output.Length / 50, $"{differ} of {native.Output.Length} bf16 outputs differ from the reference's");
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        GatedRmsNormComparison.Result RunWith(int threads)
        {
            NativeMethods.mamba_set_num_threads(threads);
            try { return GatedRmsNormComparison.Run(Native(), CPU, ScalarType.Float32, new long[] { 7, 97, 48 }, 3, seed: 5); }
            finally { NativeMethods.mamba_set_num_threads(0); }
        }
        var one = RunWith(1);
        var three = RunWith(3);
        Assert.Equal(one.Output, three.Output);
        Assert.Equal(one.DY, three.DY);
        Assert.Equal(one.DZ, three.DZ);
        Assert.Equal(one.DWeight, three.DWeight);
    }

    [Fact]
    public void InferenceForwardEqualsTheTrainingForward()
    {
        var g = new Generator(6);
        var y = randn(new long[] { 3, 5, 32 }, generator: g);
        var z = randn(new long[] { 3, 5, 32 }, generator: g);
        var w = randn(new long[] { 32 }, generator: g);
        Tensor inference;
        using (no_grad()) inference = Native().GatedRmsNorm(y, z, w, 4, 1e-5);
        var training = Native().GatedRmsNorm(y.requires_grad_(), z, w, 4, 1e-5);
        Assert.True(training.requires_grad);
        Assert.Equal(TensorData.Flat(inference), TensorData.Flat(training));
    }

    [Fact]
    public void ArgumentsAreCheckedBeforeTheNativeCall()
    {
        var k = Native();
        Tensor y = ones(2, 8), w = ones(8);
        Assert.Equal("z", Assert.Throws<ArgumentException>(() => k.GatedRmsNorm(y, ones(2, 7), w, 1, 1e-5)).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => k.GatedRmsNorm(y, y, ones(9), 1, 1e-5)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentOutOfRangeException>(() => k.GatedRmsNorm(y, y, w, 3, 1e-5)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentOutOfRangeException>(() => k.GatedRmsNorm(y, y, w, 0, 1e-5)).ParamName);
        Assert.Throws<ArgumentException>(() => k.GatedRmsNorm(ones(0, 8), ones(0, 8), w, 1, 1e-5));
        // Wider than the native pair takes: the fallback (here one that throws) is asked, not the native code.
        var wide = ones(1, GatedRmsNormFunction.MaxSize + 2);
        Assert.Throws<NotSupportedException>(() => k.GatedRmsNorm(wide, wide, ones(GatedRmsNormFunction.MaxSize + 2), 1, 1e-5));
    }

    [Fact]
    public void TheCAbiRejectsBadArgumentsBeforeTouchingMemory()
    {
        Assert.True(NativeKernels.IsAvailable);
        IntPtr a = Marshal.AllocHGlobal(64 * sizeof(float));
        try
        {
            void Rejects(int status, string text)
            {
                Assert.Equal((int)NativeStatus.InvalidArgument, status);
                Assert.Contains(text, Marshal.PtrToStringUTF8(NativeMethods.mamba_last_error()));
            }
            Rejects(NativeMethods.mamba_gated_rms_norm_fwd_cpu(0, 8, 1, 0, a, a, a, 1e-5f, a, a), "rows=0");
            Rejects(NativeMethods.mamba_gated_rms_norm_fwd_cpu(1, 12289, 1, 0, a, a, a, 1e-5f, a, a), "size=12289");
            Rejects(NativeMethods.mamba_gated_rms_norm_fwd_cpu(1, 8, 3, 0, a, a, a, 1e-5f, a, a), "groups=3");
            Rejects(NativeMethods.mamba_gated_rms_norm_fwd_cpu(1, 8, 1, 0, a, IntPtr.Zero, a, 1e-5f, a, a), "z is NULL");
            Rejects(NativeMethods.mamba_gated_rms_norm_fwd_cpu(1, 8, 1, 0, a, a, a, 1e-5f, IntPtr.Zero, a), "out is NULL");
            Rejects(NativeMethods.mamba_gated_rms_norm_bwd_cpu(1, 8, 1, 0, a, a, a, IntPtr.Zero, a, a, a, a), "rstd is NULL");
            Rejects(NativeMethods.mamba_gated_rms_norm_bwd_cpu(1, 8, 1, 0, a, a, a, a, a, a, a, IntPtr.Zero), "dweight is NULL");
            Assert.Equal((int)NativeStatus.Unsupported, NativeMethods.mamba_gated_rms_norm_fwd_cpu(1, 8, 1, 3, a, a, a, 1e-5f, a, a));
            // rstd is optional in the forward (inference).
            Assert.Equal(0, NativeMethods.mamba_gated_rms_norm_fwd_cpu(2, 8, 2, 0, a, a, a, 1e-5f, a + 64, IntPtr.Zero));
        }
        finally
        {
            Marshal.FreeHGlobal(a);
        }
    }

    [Fact]
    public void TheMixerNormsThroughItsKernels()
    {
        // A Mamba-2 model on the native kernels against the same weights on the reference kernels: the gated norm is
        // the fused one in the first (the mixer hands its kernels to the norm), TorchSharp ops in the second.
        var config = TinyConfigs.TinyMamba2(normPerGroup: true);
        manual_seed(7);
        using var model = new MambaForCausalLM(config);
        var ids = randint(0, config.VocabSize, new long[] { 2, 19 }, generator: new Generator(8));
        model.Backbone.Kernels = Native();
        var mixer = (Mamba2Mixer)model.Backbone.layers[0].mixer;
        Assert.Same(mixer.Kernels, mixer.norm.Kernels);
        var native = model.forward(ids, null);
        native.sum().backward();
        var nativeGrad = TensorData.Flat(mixer.norm.weight.grad!);
        model.zero_grad();
        model.Backbone.Kernels = new ReferenceKernels();
        var reference = model.forward(ids, null);
        reference.sum().backward();
        TensorData.AssertClose(native, reference, 1e-4, 1e-4, "logits, native against reference kernels");
        SsdKernelComparison.AssertScaled(nativeGrad, TensorData.Flat(mixer.norm.weight.grad!), 1e-4, "the gated norm's weight gradient");
    }
}
