using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The native Mamba-2 CPU kernels (SSD scan, its backward, the decode step) through NativeKernels, against the
/// fp64 oracles (<see cref="SsdOracle"/>, <see cref="SsdStepOracle"/>).</summary>
public class NativeSsdCpuTests
{
    private static NativeKernels Native() => NativeUnderTest.Kernels();

    [Theory]
    [MemberData(nameof(SsdKernelComparison.OddShapes), MemberType = typeof(SsdKernelComparison))]
    public void Fp32MatchesOracle(int batch, int length, int heads, int headDim, int groups, int state, int chunk, bool slices)
    {
        var c = new SsdCase(batch, length, heads, headDim, groups, state, InProjSlices: slices);
        SsdKernelComparison.MatchesOracle(Native(), CPU, ScalarType.Float32, c, chunk, 1e-4, 1e-4);
    }

    [Theory]
    [InlineData(ScalarType.Float16, 3e-3, 5e-3)]
    [InlineData(ScalarType.BFloat16, 2e-2, 3e-2)]
    public void HalfDtypesMatchOracle(ScalarType dtype, double tolerance, double gradTolerance)
    {
        foreach (var slices in new[] { false, true })
        {
            var c = new SsdCase(2, 37, 4, 8, 2, 16, InProjSlices: slices, Seed: 3);
            SsdKernelComparison.MatchesOracle(Native(), CPU, dtype, c, 16, tolerance, gradTolerance);
        }
    }

    [Fact]
    public void OptionalInputsAbsentClampAndNoSoftplusMatchOracle()
    {
        var k = Native();
        var basic = new SsdCase(2, 21, 4, 5, 2, 6, Seed: 4);
        SsdKernelComparison.MatchesOracle(k, CPU, ScalarType.Float32, basic with { D = false, DtBias = false, Initial = false }, 8, 1e-4, 1e-4);
        // About half the steps clamped: their Δ gradient is zero, which the oracle checks too.
        SsdKernelComparison.MatchesOracle(k, CPU, ScalarType.Float32, basic with { DtMax = 0.5 }, 8, 1e-4, 1e-4);
        SsdKernelComparison.MatchesOracle(k, CPU, ScalarType.Float32, basic with { Softplus = false, InProjSlices = true }, 8, 1e-4, 1e-4);
    }

    [Fact]
    public void ChunkSizesGiveTheSameResult()
    {
        var c = new SsdCase(2, 100, 4, 8, 2, 16, InProjSlices: true, Seed: 6);
        var results = new[] { 1, 8, 64 }.Select(chunk => SsdKernelComparison.MatchesOracle(Native(), CPU, ScalarType.Float32, c, chunk, 1e-4, 1e-4)).ToArray();
        foreach (var r in results.Skip(1))
        {
            SsdKernelComparison.AssertScaled(r.Y, results[0].Y, 2e-5, "y across chunk sizes");
            SsdKernelComparison.AssertScaled(r.Final, results[0].Final, 2e-5, "final state across chunk sizes");
            foreach (var (name, grad) in results[0].Grads) SsdKernelComparison.AssertScaled(r.Grads[name], grad, 5e-5, $"{name} across chunk sizes");
        }
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        var c = new SsdCase(3, 50, 6, 8, 2, 16, InProjSlices: true, Seed: 7);
        SsdResult RunWith(int threads)
        {
            NativeMethods.mamba_set_num_threads(threads);
            try { return SsdKernelComparison.Run(Native(), CPU, ScalarType.Float32, c, 16); }
            finally { NativeMethods.mamba_set_num_threads(0); }
        }
        var one = RunWith(1);
        var three = RunWith(3);
        Assert.Equal(one.Y, three.Y);
        Assert.Equal(one.Final, three.Final);
        foreach (var (name, grad) in one.Grads) Assert.True(grad.SequenceEqual(three.Grads[name]), $"{name} differs between 1 and 3 threads");
    }

    [Fact]
    public void FinalStateContinuesTheSequence()
    {
        // One call over 30 steps equals two calls of 12 and 18 with the first's final state as the second's initial state.
        var k = Native();
        var gen = new Generator(11);
        int B = 2, L = 30, H = 4, P = 6, G = 2, N = 5;
        var x = randn(new long[] { B, L, H, P }, generator: gen);
        var dt = randn(new long[] { B, L, H }, generator: gen);
        var Bm = randn(new long[] { B, L, G, N }, generator: gen);
        var Cm = randn(new long[] { B, L, G, N }, generator: gen);
        var A = -rand(new long[] { H }, generator: gen).exp();
        var (whole, wholeFinal) = k.StateSpaceDual(x, dt, A, Bm, Cm, null, null, true, 0, double.PositiveInfinity, 8, null, true);
        Tensor Part(Tensor t, long start, long length) => t.narrow(1, start, length);
        var (first, firstFinal) = k.StateSpaceDual(Part(x, 0, 12), Part(dt, 0, 12), A, Part(Bm, 0, 12), Part(Cm, 0, 12), null, null,
            true, 0, double.PositiveInfinity, 8, null, true);
        var (second, secondFinal) = k.StateSpaceDual(Part(x, 12, 18), Part(dt, 12, 18), A, Part(Bm, 12, 18), Part(Cm, 12, 18), null, null,
            true, 0, double.PositiveInfinity, 8, firstFinal, true);
        SsdKernelComparison.AssertScaled(TensorData.Flat(cat(new[] { first, second }, 1)), TensorData.Flat(whole), 1e-5, "y in two calls");
        SsdKernelComparison.AssertScaled(TensorData.Flat(secondFinal!), TensorData.Flat(wholeFinal!), 1e-5, "final state in two calls");
        var (_, none) = k.StateSpaceDual(x, dt, A, Bm, Cm, null, null, true, 0, double.PositiveInfinity, 8);
        Assert.Null(none);
    }

    [Fact]
    public void GradientsOfPlainSumsMatchOracle()
    {
        // y.sum() and final.sum() hand the backward expanded (stride 0) gradients.
        var gen = new Generator(13);
        int B = 2, L = 9, H = 2, P = 3, G = 1, N = 4;
        Tensor Leaf(params long[] shape) => randn(shape, generator: gen).requires_grad_(true);
        var x = Leaf(B, L, H, P);
        var dt = Leaf(B, L, H);
        var Bm = Leaf(B, L, G, N);
        var Cm = Leaf(B, L, G, N);
        var A = (-rand(new long[] { H }, generator: gen).exp()).requires_grad_(true);
        var (y, final) = Native().StateSpaceDual(x, dt, A, Bm, Cm, null, null, true, 0, double.PositiveInfinity, 4, null, true);
        (y.sum() + final!.sum()).backward();
        var oracle = new SsdOracle(TensorData.To4(x), TensorData.To3(dt), TensorData.Flat(A), TensorData.To4(Bm), TensorData.To4(Cm),
            null, null, true, null);
        var g = oracle.Backward(TensorData.To4(ones(B, L, H, P, dtype: ScalarType.Float64)), TensorData.To4(ones(B, H, P, N, dtype: ScalarType.Float64)));
        SsdKernelComparison.AssertScaled(TensorData.Flat(x.grad!), TensorData.Flat(g.DX), 1e-4, "dx");
        SsdKernelComparison.AssertScaled(TensorData.Flat(dt.grad!), TensorData.Flat(g.DDt), 1e-4, "ddt");
        SsdKernelComparison.AssertScaled(TensorData.Flat(A.grad!), g.DA, 1e-4, "dA");
        SsdKernelComparison.AssertScaled(TensorData.Flat(Bm.grad!), TensorData.Flat(g.DB), 1e-4, "dB");
        SsdKernelComparison.AssertScaled(TensorData.Flat(Cm.grad!), TensorData.Flat(g.DC), 1e-4, "dC");
    }

    [Theory]
    [InlineData(ScalarType.Float32, false)]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.BFloat16, true)]
    [InlineData(ScalarType.Float16, false)]
    public void StepMatchesOracle(ScalarType dtype, bool slices) =>
        SsdStepComparison.MatchesOracle(Native(), CPU, dtype, slices, dtype == ScalarType.Float32 ? 2e-5 : 1e-2);

    [Fact]
    public void RejectsHostileScanArguments()
    {
        var k = Native();
        Tensor x = ones(2, 5, 4, 3), dt = ones(2, 5, 4), A = -ones(4), B = ones(2, 5, 2, 6), C = ones(2, 5, 2, 6);
        void Throws(string param, Func<object> call)
        {
            var e = Assert.ThrowsAny<ArgumentException>(call);
            Assert.Equal(param, e.ParamName);
        }
        (Tensor, Tensor?) Scan(Tensor x_, Tensor dt_, Tensor A_, Tensor B_, Tensor C_, Tensor? D = null, Tensor? bias = null,
            Tensor? init = null, int chunk = 64, double dtMin = 0, double dtMax = double.PositiveInfinity) =>
            k.StateSpaceDual(x_, dt_, A_, B_, C_, D, bias, true, dtMin, dtMax, chunk, init);
        Throws("x", () => Scan(ones(2, 5, 12), dt, A, B, C));
        Throws("x", () => Scan(ones(new long[] { 2, 5, 4, 3 }, dtype: ScalarType.Int32), dt, A, B, C));
        Throws("x", () => Scan(ones(2, 0, 4, 3), ones(2, 0, 4), A, ones(2, 0, 2, 6), ones(2, 0, 2, 6)));
        Throws("dt", () => Scan(x, ones(2, 5, 3), A, B, C));
        Throws("dt", () => Scan(x, ones(new long[] { 2, 5, 4 }, dtype: ScalarType.Int64), A, B, C));
        Throws("A", () => Scan(x, dt, -ones(3), B, C));
        Throws("B", () => Scan(x, dt, A, ones(2, 5, 3, 6), ones(2, 5, 3, 6)));  // 4 heads, 3 groups
        Throws("B", () => Scan(x, dt, A, ones(2, 5, 6), C));
        Throws("C", () => Scan(x, dt, A, B, ones(2, 5, 2, 7)));
        Throws("D", () => Scan(x, dt, A, B, C, D: ones(5)));
        Throws("dtBias", () => Scan(x, dt, A, B, C, bias: ones(2, 2)));
        Throws("initialState", () => Scan(x, dt, A, B, C, init: ones(2, 4, 3, 5)));
        Throws("chunkSize", () => Scan(x, dt, A, B, C, chunk: 0));
        Throws("dtMin", () => Scan(x, dt, A, B, C, dtMin: -0.1));
        Throws("dtMax", () => Scan(x, dt, A, B, C, dtMin: 0.5, dtMax: 0.1));
        Throws("B", () => Scan(x, dt, A, empty(new long[] { 2, 5, 2, 6 }, device: new Device(DeviceType.META)), C));
        Throws("initialState", () => Scan(x, dt, A, B, C, init: empty(new long[] { 2, 4, 3, 6 }, device: new Device(DeviceType.META))));
    }

    [Fact]
    public void RejectsHostileStepArguments()
    {
        var k = Native();
        const int H = 4, P = 2, G = 2, N = 3, W = 4, K = H * P + 2 * G * N;
        var w = new Mamba2StepWeights(H, P, G, N, ones(K, 1, W), zeros(K), zeros(H), zeros(H), ones(H));
        void Throws(string param, Func<object> call)
        {
            var e = Assert.ThrowsAny<ArgumentException>(call);
            Assert.Equal(param, e.ParamName);
        }
        Tensor xBC = ones(2, K), dt = ones(2, H), conv = zeros(2, K, W), ssm = zeros(2, H, P, N);
        Throws("xBC", () => k.StateSpaceDualStep(ones(2, K + 1), dt, conv, ssm, w));
        Throws("dt", () => k.StateSpaceDualStep(xBC, ones(2, H + 1), conv, ssm, w));
        Throws("convState", () => k.StateSpaceDualStep(xBC, dt, zeros(2, K - 1, W), ssm, w));
        Throws("ssmState", () => k.StateSpaceDualStep(xBC, dt, conv, zeros(2, H, P, N + 1), w));
        Throws("w", () => k.StateSpaceDualStep(xBC, dt, conv, ssm, w with { ALog = zeros(H + 1) }));
        Throws("w", () => k.StateSpaceDualStep(xBC, dt, conv, ssm, w with { Groups = 3 }));
        Throws("w", () => k.StateSpaceDualStep(xBC, dt, conv, ssm, w with { ConvWeight = ones(K, 1, W + 1) }));
        Throws("dtMax", () => k.StateSpaceDualStep(xBC, dt, conv, ssm, w with { DtMin = 1, DtMax = 0.5 }));
        Throws("xBC", () => k.StateSpaceDualStep(ones(0, K), zeros(0, H), zeros(0, K, W), zeros(0, H, P, N), w));
        Throws("ssmState", () => k.StateSpaceDualStep(xBC, dt, conv, empty(new long[] { 2, H, P, N }, device: new Device(DeviceType.META)), w));
    }

    [Fact]
    public void UnsupportedInputsGoToTheFallbacksMamba2Kernels()
    {
        var x = ones(new long[] { 1, 3, 2, 2 }, dtype: ScalarType.Float64);
        Tensor dt = ones(1, 3, 2), A = -ones(2), B = ones(1, 3, 1, 2);
        // A fallback without Mamba-2 kernels: a clear NotSupportedException, naming what is missing.
        var e = Assert.Throws<NotSupportedException>(() => Native().StateSpaceDual(x, dt, A, B, B, null, null, true, 0, double.PositiveInfinity, 8));
        Assert.Contains(nameof(IMamba2Kernels), e.Message);
        Assert.Contains("Float64", e.Message);
        var recording = new RecordingMamba2Kernels();
        var (y, _) = new NativeKernels(recording).StateSpaceDual(x, dt, A, B, B, null, null, true, 0, double.PositiveInfinity, 8);
        Assert.Equal(1, recording.Scans);
        Assert.Equal(ScalarType.Float64, y.dtype);
        new NativeKernels(recording).GatedRmsNorm(x, x, ones(2, dtype: ScalarType.Float64), 1, 1e-5);
        Assert.Equal(1, recording.Norms);
    }

    /// <summary>A fallback with Mamba-2 kernels that records being called.</summary>
    private sealed class RecordingMamba2Kernels : IMambaKernels, IMamba2Kernels
    {
        public int Scans { get; private set; }
        public string Name => "recording";
        public (Tensor Output, Tensor? FinalState) StateSpaceDual(Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? dtBias,
            bool dtSoftplus, double dtMin, double dtMax, int chunkSize, Tensor? initialState = null, bool returnFinalState = false)
        {
            Scans++;
            return (zeros_like(x), null);
        }
        public Tensor StateSpaceDualStep(Tensor xBC, Tensor dt, Tensor convState, Tensor ssmState, Mamba2StepWeights weights) =>
            throw new InvalidOperationException("not expected");
        public (Tensor Output, Tensor? FinalState) SelectiveScan(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D,
            Tensor? z, Tensor? deltaBias, bool deltaSoftplus, Tensor? initialState = null, bool returnFinalState = false) =>
            throw new InvalidOperationException("not expected");
        public Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? bias, bool silu) => throw new InvalidOperationException("not expected");
        public Tensor DecodeStep(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights weights) =>
            throw new InvalidOperationException("not expected");
        public Tensor RmsNorm(Tensor x, Tensor weight, double eps) => throw new InvalidOperationException("not expected");
        public Tensor GatedRmsNorm(Tensor y, Tensor z, Tensor weight, long groups, double eps)
        {
            Norms++;
            return zeros_like(y);
        }
        public int Norms { get; private set; }
    }
}
