using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>
/// <see cref="MambaForCausalLM.Continue"/>: a sequence run in chunks, each continuing from the cache the previous one
/// left, must give what one forward over the whole sequence gives; its gradients reach the weights, not the cache.
/// </summary>
public class ContinuationTests
{
    public static TheoryData<bool, bool, string> Variants => new()
    {
        { false, false, "native" }, { false, false, "reference" }, { true, false, "reference" }, { false, true, "reference" },
    };

    private static IMambaKernels Kernels(string name) => name == "native" ? NativeUnderTest.Kernels() : new ReferenceKernels();

    [Theory]
    [MemberData(nameof(Variants))]
    public void ChunksContinuedFromTheCacheEqualTheFullForward(bool timeInvariant, bool ungated, string kernels)
    {
        manual_seed(6);
        var config = TinyConfigs.Tiny();
        config.TimeInvariantSsm = timeInvariant;
        config.Ungated = ungated;
        var model = new MambaForCausalLM(config);
        model.Backbone.Kernels = Kernels(kernels);
        model.eval();
        using var _ = no_grad();
        var ids = randint(0, config.VocabSize, new long[] { 2, 15 });
        var full = model.forward(ids, null);

        // Chunks of 1 and 2 are shorter than the conv's window of 4; a step in between must keep the window too.
        using var cache = model.Backbone.NewCache(2);
        int at = 0;
        foreach (int length in new[] { 1, 2, 5 })
        {
            var logits = model.Continue(ids.narrow(1, at, length), cache);
            TensorData.AssertClose(logits, full.narrow(1, at, length), 1e-4, 1e-4, $"chunk at {at}");
            at += length;
        }
        TensorData.AssertClose(model.Step(ids.select(1, at), cache), full.select(1, at), 1e-4, 1e-4, "step");
        at++;
        var rest = model.Continue(ids.narrow(1, at, 15 - at), cache);
        TensorData.AssertClose(rest, full.narrow(1, at, 15 - at), 1e-4, 1e-4, "last chunk");
        Assert.Equal(15, cache.Position);
    }

    [Fact]
    public void GradientsOfAContinuedChunkMatchFiniteDifferencesWithTheCacheHeldFixed()
    {
        manual_seed(7);
        var config = TinyConfigs.Tiny();
        config.ResidualInFp32 = false;   // an fp32 residual stream would round away a finite difference's change
        var model = new MambaForCausalLM(config);
        model.to(ScalarType.Float64);
        model.Backbone.Kernels = new ReferenceKernels();
        var ids = randint(0, 37, new long[] { 2, 10 });
        var first = ids.narrow(1, 0, 6);
        var second = ids.narrow(1, 6, 4);
        // The backbone's hidden states, not the logits: those are always fp32, too coarse for a finite difference.
        var weights = randn(2, 4, 16, dtype: ScalarType.Float64);
        using var cache = model.Backbone.NewCache(2);
        using (no_grad()) model.Backbone.Continue(first, cache);
        var layers = cache.Layers.Cast<MambaLayerState>().ToArray();
        var saved = layers.Select(l => (Conv: l.ConvState.clone(), Ssm: l.SsmState.clone())).ToArray();

        // The second chunk's weighted sum, each time from the same state the first chunk left.
        Tensor SecondChunkLoss()
        {
            for (int i = 0; i < saved.Length; i++)
            {
                layers[i].ConvState = saved[i].Conv.clone();
                layers[i].SsmState = saved[i].Ssm.clone();
            }
            return (model.Backbone.Continue(second, cache) * weights).sum();
        }
        double Loss() => SecondChunkLoss().item<double>();

        model.zero_grad();
        SecondChunkLoss().backward();
        Assert.All(layers, l => Assert.False(l.SsmState.requires_grad));   // the new state is detached

        // One element of each kind of weight the continued chunk depends on, in both layers: the conv (which now
        // reads the earlier chunk's inputs), Δ's bias, A, and the input projection.
        // A and Δ's bias go to the scan in fp32 (as in mamba_ssm), so they get a larger step and a looser tolerance.
        var probes = new List<(string Name, Tensor Parameter, long[] Index, double Step, double Rtol)>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("conv1d.weight")) probes.Add((name, p, new long[] { 3, 0, 0 }, 1e-6, 1e-5));
            else if (name.EndsWith("dt_proj.bias")) probes.Add((name, p, new long[] { 5 }, 1e-3, 1e-3));
            else if (name.EndsWith("A_log")) probes.Add((name, p, new long[] { 2, 1 }, 1e-3, 1e-3));
            else if (name.EndsWith("in_proj.weight")) probes.Add((name, p, new long[] { 1, 4 }, 1e-6, 1e-5));
        }
        Assert.Equal(8, probes.Count);
        using var _ = no_grad();
        foreach (var (name, p, index, h, rtol) in probes)
        {
            var indices = index.Select(i => TensorIndex.Single(i)).ToArray();
            double analytic = p.grad![indices].item<double>();
            double original = p[indices].item<double>();
            p[indices] = original + h;
            double plus = Loss();
            p[indices] = original - h;
            double minus = Loss();
            p[indices] = original;
            double numeric = (plus - minus) / (2 * h);
            Assert.True(Math.Abs(analytic - numeric) <= 1e-8 + rtol * Math.Abs(numeric),
                $"{name}{string.Concat(index.Select(i => $"[{i}]"))}: backward {analytic}, finite difference {numeric}");
        }
    }

    [Fact]
    public void NativeGradientsOfAContinuedChunkMatchTheReference()
    {
        manual_seed(9);
        var model = new MambaForCausalLM(TinyConfigs.Tiny());
        var ids = randint(0, 37, new long[] { 3, 23 });
        Tensor[] GradsWith(IMambaKernels kernels)
        {
            model.Backbone.Kernels = kernels;
            model.zero_grad();
            using var cache = model.Backbone.NewCache(3);
            using (no_grad()) model.Continue(ids.narrow(1, 0, 10), cache);
            var logits = model.Continue(ids.narrow(1, 10, 13), cache);
            nn.functional.cross_entropy(logits.reshape(-1, 37), ids.narrow(1, 10, 13).reshape(-1)).backward();
            return model.parameters().Select(p => p.grad!.clone()).Prepend(logits.detach()).ToArray();
        }
        var expected = GradsWith(new ReferenceKernels());
        var actual = GradsWith(NativeUnderTest.Kernels());
        for (int i = 0; i < expected.Length; i++)
            TensorData.AssertClose(actual[i], expected[i], 1e-3, 1e-4, i == 0 ? "logits" : $"gradient {i}");
    }
}
