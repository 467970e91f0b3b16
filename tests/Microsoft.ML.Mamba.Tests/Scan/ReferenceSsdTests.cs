using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan.Oracles;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>
/// The reference kernels' Mamba-2 operations: the chunked SSD scan against its recurrent form and the fp64 oracle
/// (forward, final state and gradients), and the decode step against the scan.
/// </summary>
public class ReferenceSsdTests
{
    /// <summary>One SSD call's inputs, fp64 on the CPU, and the oracle of them.</summary>
    private sealed record SsdCase(Tensor X, Tensor Dt, Tensor A, Tensor B, Tensor C, Tensor D, Tensor DtBias, Tensor? Initial,
        bool Softplus, double DtMin, double DtMax)
    {
        public static SsdCase Make(int batch, int length, int heads, int headDim, int groups, int state, bool initial,
            bool softplus = true, double dtMin = 0, double dtMax = double.PositiveInfinity, int seed = 1)
        {
            var g = new Generator((ulong)seed);
            var f64 = ScalarType.Float64;
            return new SsdCase(
                randn(batch, length, heads, headDim, dtype: f64, generator: g),
                softplus ? randn(batch, length, heads, dtype: f64, generator: g) - 1 : rand(batch, length, heads, dtype: f64, generator: g) * 0.5,
                -(randn(heads, dtype: f64, generator: g) * 0.5).exp(),
                randn(batch, length, groups, state, dtype: f64, generator: g) * 0.5,
                randn(batch, length, groups, state, dtype: f64, generator: g) * 0.5,
                randn(heads, dtype: f64, generator: g),
                randn(heads, dtype: f64, generator: g) * 0.5,
                initial ? randn(batch, heads, headDim, state, dtype: f64, generator: g) : null,
                softplus, dtMin, dtMax);
        }

        public Tensor[] Inputs => Initial is null ? [X, Dt, A, B, C, D, DtBias] : [X, Dt, A, B, C, D, DtBias, Initial];

        public SsdOracle Oracle() => new(TensorData.To4(X), TensorData.To3(Dt), TensorData.Flat(A), TensorData.To4(B), TensorData.To4(C),
            TensorData.Flat(D), TensorData.Flat(DtBias), Softplus, Initial is null ? null : TensorData.To4(Initial), DtMin, DtMax);

        public (Tensor Y, Tensor? Final) Chunked(int chunk, ScalarType dtype = ScalarType.Float64) =>
            new ReferenceKernels().StateSpaceDual(X.to_type(dtype), Dt.to_type(dtype), A.to_type(ScalarType.Float32), B.to_type(dtype),
                C.to_type(dtype), D.to_type(ScalarType.Float32), DtBias.to_type(ScalarType.Float32), Softplus, DtMin, DtMax, chunk,
                Initial?.to_type(ScalarType.Float32), returnFinalState: true);

        public (Tensor Y, Tensor? Final) Fp64Chunked(int chunk) =>
            new ReferenceKernels().StateSpaceDual(X, Dt, A, B, C, D, DtBias, Softplus, DtMin, DtMax, chunk, Initial, returnFinalState: true);

        public (Tensor Y, Tensor? Final) Recurrent() =>
            new ReferenceKernels().StateSpaceDualRecurrent(X, Dt, A, B, C, D, DtBias, Softplus, DtMin, DtMax, Initial, returnFinalState: true);
    }

    public static TheoryData<int, int, int, int, int, int, bool> Shapes => new()
    {
        // batch, length, heads, head_dim, groups, state, initial state; chunks of 8
        { 1, 1, 6, 5, 2, 4, false },    // one step
        { 2, 7, 6, 5, 3, 4, true },     // shorter than a chunk
        { 2, 33, 6, 5, 2, 4, true },    // four chunks and one step
        { 1, 16, 6, 5, 6, 4, false },   // a group per head, exactly two chunks
        { 2, 9, 4, 3, 1, 7, true },     // one group
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ChunkedAndRecurrentFormsMatchTheOracleInFp64(int batch, int length, int heads, int headDim, int groups, int state, bool initial)
    {
        var c = SsdCase.Make(batch, length, heads, headDim, groups, state, initial);
        var (y, final) = c.Oracle().Forward();
        var (chunkedY, chunkedFinal) = c.Fp64Chunked(8);
        var (recurrentY, recurrentFinal) = c.Recurrent();
        TensorData.AssertClose(TensorData.Flat(chunkedY), TensorData.Flat(y), 1e-10, 1e-10, "chunked output");
        TensorData.AssertClose(TensorData.Flat(chunkedFinal!), TensorData.Flat(final), 1e-10, 1e-10, "chunked final state");
        TensorData.AssertClose(TensorData.Flat(recurrentY), TensorData.Flat(y), 1e-10, 1e-10, "recurrent output");
        TensorData.AssertClose(TensorData.Flat(recurrentFinal!), TensorData.Flat(final), 1e-10, 1e-10, "recurrent final state");
        Assert.Equal(ScalarType.Float64, chunkedY.dtype);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(64)]
    public void Fp32MatchesTheOracleAtAnyChunkSize(int chunk)
    {
        var c = SsdCase.Make(2, 33, 6, 5, 3, 4, initial: true, seed: 2);
        var (y, final) = c.Oracle().Forward();
        var (y32, final32) = c.Chunked(chunk, ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, y32.dtype);
        Assert.Equal(ScalarType.Float32, final32!.dtype);
        TensorData.AssertClose(TensorData.Flat(y32), TensorData.Flat(y), 1e-4, 1e-4, $"fp32 output, chunk {chunk}");
        TensorData.AssertClose(TensorData.Flat(final32), TensorData.Flat(final), 1e-4, 1e-4, $"fp32 final state, chunk {chunk}");
    }

    [Fact]
    public void TheClampAndNoSoftplusFollowTheDefinition()
    {
        var clamped = SsdCase.Make(2, 11, 4, 3, 2, 4, initial: true, dtMin: 0.2, dtMax: 0.6, seed: 3);
        var (y, final) = clamped.Oracle().Forward();
        var (cy, cf) = clamped.Fp64Chunked(4);
        TensorData.AssertClose(TensorData.Flat(cy), TensorData.Flat(y), 1e-10, 1e-10, "clamped output");
        TensorData.AssertClose(TensorData.Flat(cf!), TensorData.Flat(final), 1e-10, 1e-10, "clamped final state");
        var plain = SsdCase.Make(1, 10, 4, 3, 4, 2, initial: false, softplus: false, seed: 4);
        var (py, _) = plain.Oracle().Forward();
        TensorData.AssertClose(TensorData.Flat(plain.Fp64Chunked(3).Y), TensorData.Flat(py), 1e-10, 1e-10, "no-softplus output");
    }

    [Fact]
    public void GradientsMatchTheOracle()
    {
        var c = SsdCase.Make(2, 13, 6, 5, 3, 4, initial: true, dtMax: 1.5, seed: 5);
        var inputs = c.Inputs;
        foreach (var t in inputs) t.requires_grad_(true);
        var dy = randn(c.X.shape, dtype: ScalarType.Float64, generator: new Generator(6));
        var dFinal = randn(c.Initial!.shape, dtype: ScalarType.Float64, generator: new Generator(7));
        var (y, final) = c.Fp64Chunked(4);
        ((y * dy).sum() + (final! * dFinal).sum()).backward();
        var want = c.Oracle().Backward(TensorData.To4(dy), TensorData.To4(dFinal));
        void Check(Tensor input, Array expected, string name) =>
            TensorData.AssertClose(TensorData.Flat(input.grad!), TensorData.Flat(expected), 1e-9, 1e-9, $"gradient of {name}");
        Check(c.X, want.DX, "x"); Check(c.Dt, want.DDt, "dt"); Check(c.A, want.DA, "A"); Check(c.B, want.DB, "B");
        Check(c.C, want.DC, "C"); Check(c.D, want.DD!, "D"); Check(c.DtBias, want.DDtBias!, "dtBias");
        Check(c.Initial!, want.DInitial!, "initial state");
    }

    [Fact]
    public void AStepContinuesTheScan()
    {
        // The decode step from a state equals the scan's next output and state, conv included: feed xBC through the
        // step token by token and compare with conv + scan over the whole sequence.
        var g = new Generator(8);
        int batch = 2, length = 6, heads = 6, headDim = 5, groups = 2, state = 4, width = 4;
        long channels = heads * headDim + 2 * groups * state;
        var xBC = randn(batch, length, channels, generator: g);
        var dt = randn(batch, length, heads, generator: g);
        var convWeight = randn(channels, 1, width, generator: g) * 0.5;
        var convBias = randn(channels, generator: g) * 0.1;
        var dtBias = randn(heads, generator: g) * 0.5;
        var aLog = randn(heads, generator: g) * 0.5;
        var dSkip = randn(heads, generator: g);
        var kernels = new ReferenceKernels();

        var conv = kernels.CausalConv1d(xBC.transpose(1, 2), convWeight.squeeze(1), convBias, silu: true).transpose(1, 2);
        var x = conv.narrow(2, 0, heads * headDim).reshape(batch, length, heads, headDim);
        var B = conv.narrow(2, heads * headDim, groups * state).reshape(batch, length, groups, state);
        var C = conv.narrow(2, heads * headDim + groups * state, groups * state).reshape(batch, length, groups, state);
        var (y, final) = kernels.StateSpaceDual(x, dt, -aLog.exp(), B, C, dSkip, dtBias, true, 0, double.PositiveInfinity, 4,
            returnFinalState: true);

        var weights = new Mamba2StepWeights(heads, headDim, groups, state, convWeight, convBias, dtBias, aLog, dSkip);
        var convState = zeros(batch, channels, width);
        var ssmState = zeros(batch, heads, headDim, state);
        for (int t = 0; t < length; t++)
        {
            var step = kernels.StateSpaceDualStep(xBC.select(1, t), dt.select(1, t), convState, ssmState, weights);
            TensorData.AssertClose(step, y.select(1, t).reshape(batch, heads * headDim), 1e-5, 1e-5, $"step {t}");
        }
        TensorData.AssertClose(ssmState, final!, 1e-5, 1e-5, "state after the steps");
        TensorData.AssertClose(convState, xBC.narrow(1, length - width, width).transpose(1, 2), 0, 0, "conv window");
    }

    [Fact]
    public void WrongArgumentsAreNamed()
    {
        var k = new ReferenceKernels();
        var c = SsdCase.Make(1, 3, 4, 2, 2, 3, initial: false);
        ArgumentException Call(Tensor? x = null, Tensor? dt = null, Tensor? B = null, Tensor? initial = null, int chunk = 8) =>
            Assert.ThrowsAny<ArgumentException>(() => k.StateSpaceDual(x ?? c.X, dt ?? c.Dt, c.A, B ?? c.B, c.C, c.D, c.DtBias, true, 0,
                double.PositiveInfinity, chunk, initial));
        Assert.Equal("x", Call(x: c.X.squeeze(0)).ParamName);
        Assert.Equal("dt", Call(dt: c.Dt.narrow(1, 0, 2)).ParamName);
        Assert.Equal("B", Call(B: zeros(1, 3, 3, 3, dtype: ScalarType.Float64)).ParamName);   // 3 groups do not divide 4 heads
        Assert.Equal("initialState", Call(initial: zeros(1, 4, 2, 2, dtype: ScalarType.Float64)).ParamName);
        Assert.Equal("chunkSize", Call(chunk: 0).ParamName);
        Assert.Equal("x", Call(x: zeros(1, 0, 4, 2, dtype: ScalarType.Float64), dt: zeros(1, 0, 4, dtype: ScalarType.Float64)).ParamName);
        Assert.Equal("dt", Call(dt: zeros(1, 3, 4, dtype: ScalarType.Int64)).ParamName);
    }
}
