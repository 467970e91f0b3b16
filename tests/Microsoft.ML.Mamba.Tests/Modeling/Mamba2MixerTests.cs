using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>
/// The Mamba-2 mixer and a model built of it: the full forward against decoding step by step and against chunks
/// continued from the cache, padding, its gradients against finite differences, and its kernel choice.
/// </summary>
public class Mamba2MixerTests
{
    private static MambaForCausalLM Model(int seed, bool normPerGroup = false, bool useBias = false)
    {
        var config = TinyConfigs.TinyMamba2(normPerGroup: normPerGroup);
        config.UseBias = useBias;
        var model = Microsoft.ML.Mamba.Interop.TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(config));
        model.eval();
        return model;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void StepByStepEqualsTheFullForward(bool normPerGroup, bool useBias)
    {
        var model = Model(3, normPerGroup, useBias);
        using var _ = no_grad();
        var ids = randint(0, 37, new long[] { 2, 11 }, generator: new Generator(1));
        var full = model.forward(ids, null);
        using var cache = model.Backbone.NewCache(2);
        Assert.All(cache.Layers, layer => Assert.IsType<Mamba2LayerState>(layer));
        TensorData.AssertClose(model.Prefill(ids.narrow(1, 0, 5), null, cache), full.narrow(1, 0, 5), 1e-5, 1e-5, "prefill");
        for (int t = 5; t < 11; t++)
            TensorData.AssertClose(model.Step(ids.select(1, t), cache), full.select(1, t), 1e-4, 1e-4, $"step {t}");
        Assert.Equal(11, cache.Position);
    }

    [Fact]
    public void ChunksContinuedFromTheCacheEqualTheFullForward()
    {
        var model = Model(4);
        using var _ = no_grad();
        var ids = randint(0, 37, new long[] { 2, 15 }, generator: new Generator(2));
        var full = model.forward(ids, null);
        using var cache = model.Backbone.NewCache(2);
        int at = 0;
        foreach (int length in new[] { 1, 2, 5 })   // shorter than the conv window, then across a chunk boundary
        {
            TensorData.AssertClose(model.Continue(ids.narrow(1, at, length), cache), full.narrow(1, at, length), 1e-4, 1e-4, $"chunk at {at}");
            at += length;
        }
        TensorData.AssertClose(model.Step(ids.select(1, at), cache), full.select(1, at), 1e-4, 1e-4, "step");
        at++;
        TensorData.AssertClose(model.Continue(ids.narrow(1, at, 15 - at), cache), full.narrow(1, at, 15 - at), 1e-4, 1e-4, "last chunk");
    }

    [Fact]
    public void LeftPaddingDoesNotChangeTheTokens()
    {
        var model = Model(5);
        using var _ = no_grad();
        var ids = randint(3, 37, new long[] { 1, 9 }, generator: new Generator(3));
        var alone = model.forward(ids, null);
        var padded = cat(new[] { zeros(1, 4, dtype: ScalarType.Int64), ids }, 1);
        var other = randint(3, 37, new long[] { 1, 13 }, generator: new Generator(4));
        var batch = cat(new[] { padded, other }, 0);
        var mask = cat(new[] { cat(new[] { zeros(1, 4, dtype: ScalarType.Int64), ones(1, 9, dtype: ScalarType.Int64) }, 1), ones(1, 13, dtype: ScalarType.Int64) }, 0);
        var logits = model.forward(batch, mask);
        TensorData.AssertClose(logits[0].narrow(0, 4, 9), alone[0], 1e-4, 1e-4, "padded row");
        TensorData.AssertClose(logits[1], model.forward(other, null)[0], 1e-5, 1e-5, "unpadded row");
        // A prefill of the padded batch leaves the state of the row alone: its next step matches too.
        using var cache = model.Backbone.NewCache(2);
        model.Prefill(batch, mask, cache);
        var next = tensor(new long[] { 7, 7 });
        var stepped = model.Step(next, cache);
        var whole = model.forward(cat(new[] { ids, next.narrow(0, 0, 1).unsqueeze(0) }, 1), null);
        TensorData.AssertClose(stepped[0], whole[0, -1], 1e-4, 1e-4, "step after a padded prefill");
    }

    [Fact]
    public void GradientsOfTheMixerMatchFiniteDifferencesInFp64()
    {
        var config = TinyConfigs.TinyMamba2();
        config.HiddenSize = 8;   // 4 heads of 4 in 2 groups
        config.TimeStepLimit = [0.0, 0.9];   // some Δ clamped: its gradient must stop there
        var mixer = Microsoft.ML.Mamba.Interop.TorchGlobalRandom.Seeded(6, () => new Mamba2Mixer(config));
        mixer.to(ScalarType.Float64);
        mixer.Kernels = new ReferenceKernels();
        var x = randn(new long[] { 2, 7, 8 }, dtype: ScalarType.Float64, generator: new Generator(5));
        var w = randn(new long[] { 2, 7, 8 }, dtype: ScalarType.Float64, generator: new Generator(6));
        x.requires_grad_(true);
        Tensor Loss() => (mixer.forward(x, null) * w).sum();
        Loss().backward();
        var checkedTensors = new (string Name, Tensor Value)[]
        {
            ("x", x), ("in_proj.weight", mixer.in_proj.weight!), ("conv1d.weight", mixer.conv1d.weight!), ("conv1d.bias", mixer.conv1d.bias!),
            ("dt_bias", mixer.dt_bias), ("A_log", mixer.A_log), ("D", mixer.D), ("norm.weight", mixer.norm.weight),
            ("out_proj.weight", mixer.out_proj.weight!),
        };
        const double eps = 1e-6;
        foreach (var (name, value) in checkedTensors)
        {
            var analytic = TensorData.Flat(value.grad!);
            using var _ = no_grad();
            var flat = value.view(-1);
            // A spread of each tensor's elements (every one would take a minute on two cores).
            int count = (int)flat.numel(), stride = Math.Max(1, count / 5);
            for (int k = 0; k < count; k += stride)
            {
                double saved = flat[k].item<double>();
                flat[k] = saved + eps; double plus = Loss().item<double>();
                flat[k] = saved - eps; double minus = Loss().item<double>();
                flat[k] = saved;
                double numeric = (plus - minus) / (2 * eps);
                Assert.True(Math.Abs(numeric - analytic[k]) <= 1e-6 + 1e-5 * Math.Abs(numeric), $"{name}[{k}]: finite difference {numeric}, autograd {analytic[k]}");
            }
        }
    }

    [Fact]
    public void KernelsWithoutMamba2OperationsAreRefusedAndTheDefaultKernelsGiveTheReferenceResult()
    {
        var model = Model(7);
        var error = Assert.Throws<ArgumentException>(() => model.Backbone.Kernels = new ThrowingKernels());
        Assert.Contains(nameof(IMamba2Kernels), error.Message);
        model.Backbone.Kernels = MambaKernels.Reference;
        Assert.Same(MambaKernels.Reference, model.Backbone.Kernels);
        model.Backbone.Kernels = null;
        // The default: the native kernels when they have Mamba-2's operations, else the reference.
        using var _ = no_grad();
        var ids = randint(0, 37, new long[] { 1, 6 }, generator: new Generator(8));
        var byDefault = model.forward(ids, null);
        model.Backbone.Kernels = new ReferenceKernels();
        TensorData.AssertClose(model.forward(ids, null), byDefault, 1e-5, 1e-5, "default kernels");
    }

    [Fact]
    public void AStateOfTheOtherFamilyIsRefused()
    {
        var mamba2 = (IMixer)Model(8).Backbone.layers[0].mixer;
        var mamba1 = (IMixer)new MambaForCausalLM(TinyConfigs.Tiny()).Backbone.layers[0].mixer;
        using var state = mamba1.NewState(1, CPU);
        var error = Assert.Throws<ArgumentException>(() => mamba2.Step(zeros(1, 16), state));
        Assert.Contains(nameof(Mamba2LayerState), error.Message);
    }

    [Fact]
    public void MixedPrecisionKeepsTheDecayParametersInFp32()
    {
        var model = Model(9);
        model.ToMixedPrecision(ScalarType.BFloat16);
        var mixer = (Mamba2Mixer)model.Backbone.layers[0].mixer;
        Assert.Equal(ScalarType.BFloat16, mixer.in_proj.weight!.dtype);
        Assert.Equal(ScalarType.Float32, mixer.A_log.dtype);
        Assert.Equal(ScalarType.Float32, mixer.dt_bias.dtype);
        Assert.Equal(ScalarType.Float32, mixer.D.dtype);
        using var _ = no_grad();
        var logits = model.forward(randint(0, 37, new long[] { 2, 6 }, generator: new Generator(9)), null);
        Assert.False(logits.isnan().any().item<bool>());
    }
}
