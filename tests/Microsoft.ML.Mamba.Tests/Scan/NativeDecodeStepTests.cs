using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The fused native CPU decode step and RMSNorm against the fp64 oracles (Oracles/).</summary>
public class NativeDecodeStepTests
{
    private static NativeKernels Native() => NativeUnderTest.Kernels();

    [Theory]
    [MemberData(nameof(DecodeStepComparison.OddShapes), MemberType = typeof(DecodeStepComparison))]
    public void Fp32StepMatchesReference(int batch, int inner, int state, int rank, int width, bool gated, bool dSkip,
        bool convBias, bool strided) =>
        DecodeStepComparison.StepMatchesReference(Native(), CPU, ScalarType.Float32, batch, inner, state, rank, width,
            gated, dSkip, convBias, strided, 1e-4, 1e-5);

    [Fact]
    public void Bf16StepMatchesReference() =>
        DecodeStepComparison.StepMatchesReference(Native(), CPU, ScalarType.BFloat16, 2, 40, 16, 4, 4, true, true, true, true,
            3e-2, 5e-2);

    [Fact]
    public void RmsNormMatchesReference()
    {
        DecodeStepComparison.RmsNormMatchesReference(Native(), CPU, ScalarType.Float32, 1e-5, 1e-6);
        DecodeStepComparison.RmsNormMatchesReference(Native(), CPU, ScalarType.BFloat16, 2e-2, 2e-2);
    }

    [Fact]
    public void TimeInvariantMixerFallsBackToTheReferenceStep()
    {
        var weights = new DecodeStepWeights(ones(4, 1, 2), null, null, ones(4, 1), null, zeros(4, 3), null, ones(4, 3), ones(4, 3));
        using var _ = no_grad();
        var native = new NativeKernels();
        var y = native.DecodeStep(ones(1, 4), null, zeros(1, 4, 2), zeros(1, 4, 3), weights);
        var expected = MambaKernels.Reference.DecodeStep(ones(1, 4), null, zeros(1, 4, 2), zeros(1, 4, 3), weights);
        TensorData.AssertClose(y, expected, 0, 0, "time-invariant step");
    }

    [Fact]
    public void MismatchedShapesAreRejectedBeforeTheKernelRuns()
    {
        // The native kernel trusts the sizes it is given, so a wrong state or weight must fail with a message, not
        // read or write out of bounds.
        var w = new DecodeStepWeights(ones(4, 1, 2), null, zeros(1 + 2 * 3, 4), ones(4, 1), null, zeros(4, 3), null);
        using var _ = no_grad();
        var native = Native();
        var wrongBatch = Assert.Throws<ArgumentException>(() => native.DecodeStep(ones(2, 4), null, zeros(2, 4, 2), zeros(1, 4, 3), w));
        Assert.Contains("ssmState", wrongBatch.Message);
        var wrongXProj = w with { XProjWeight = zeros(5, 4) };
        var error = Assert.Throws<ArgumentException>(() => native.DecodeStep(ones(1, 4), null, zeros(1, 4, 2), zeros(1, 4, 3), wrongXProj));
        Assert.Contains("x_proj", error.Message);
        var norm = Assert.Throws<ArgumentException>(() => native.RmsNorm(ones(2, 8), ones(7), 1e-5));
        Assert.Contains("weight", norm.Message);
    }
}
