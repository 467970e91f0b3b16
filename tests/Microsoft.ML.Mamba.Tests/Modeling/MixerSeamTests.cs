using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>
/// The mixer seam (<see cref="IMixer"/>): blocks, backbones and caches work around a mixer they do not know
/// (<see cref="PreviousTokenMixer"/>), and mixers and their families' kernels keep to their own kind.
/// </summary>
public class MixerSeamTests
{
    [Fact]
    public void ABlockAroundAnotherMixerRegistersItAsMixerAndAddsItsOutputToTheResidual()
    {
        manual_seed(1);
        var mixer = new PreviousTokenMixer(8);
        var block = new MambaBlock(8, 1e-5, residualInFp32: true, mixer);
        Assert.Equal(new[] { "norm.weight", "mixer.proj.weight" }, block.named_parameters().Select(p => p.name).ToArray());
        Assert.Same(mixer, block.mixer);

        using var _ = no_grad();
        var x = randn(2, 5, 8);
        var normed = MambaKernels.Reference.RmsNorm(x, block.norm.weight, 1e-5);
        var expected = x + mixer.proj.forward(cat(new[] { zeros(2, 1, 8), normed.narrow(1, 0, 4) }, 1));
        TensorData.AssertClose(block.forward(x, null), expected, 1e-5, 1e-5, "block output");
    }

    [Fact]
    public void ABlockRejectsAMixerThatIsNotAModule()
    {
        var e = Assert.Throws<ArgumentException>(() => new MambaBlock(8, 1e-5, true, new NotAModule()));
        Assert.Equal("mixer", e.ParamName);
        Assert.Contains(nameof(NotAModule), e.Message);
    }

    [Fact]
    public void ABackboneOfAnotherMixerPrefillsStepsContinuesAndSelectsRowsLikeItsForward()
    {
        manual_seed(2);
        var config = TinyConfigs.Tiny();
        var mixers = new List<PreviousTokenMixer>();
        var model = new MambaModel(config, layer =>
        {
            var m = new PreviousTokenMixer(config.HiddenSize);
            mixers.Add(m);
            return m;
        });
        Assert.Equal(config.NumHiddenLayers, mixers.Count);
        Assert.All(mixers, m => Assert.Equal(config.NumHiddenLayers, m.InitialisedFor));   // the depth-dependent init reached it
        Assert.Contains("layers.1.mixer.proj.weight", model.named_parameters().Select(p => p.name));
        model.eval();
        using var _ = no_grad();
        var ids = randint(0, config.VocabSize, new long[] { 2, 8 });
        var full = model.forward(ids, null);

        var cache = model.NewCache(2);
        Assert.All(cache.Layers, s => Assert.IsType<LastTokenState>(s));
        TensorData.AssertClose(model.Prefill(ids.narrow(1, 0, 3), null, cache), full.narrow(1, 0, 3), 1e-5, 1e-5, "prefill");
        TensorData.AssertClose(model.Step(ids.select(1, 3), cache), full.select(1, 3), 1e-5, 1e-5, "step");
        TensorData.AssertClose(model.Continue(ids.narrow(1, 4, 2), cache), full.narrow(1, 4, 2), 1e-5, 1e-5, "continue");
        Assert.Equal(6, cache.Position);

        cache.SelectRows(tensor(new long[] { 1 }));
        TensorData.AssertClose(model.Step(ids.narrow(0, 1, 1).select(1, 6), cache), full.narrow(0, 1, 1).select(1, 6), 1e-5, 1e-5, "row 1 alone");
        cache.Dispose();
        Assert.All(cache.Layers, s => Assert.True(((LastTokenState)s).Disposed));
    }

    [Fact]
    public void GenerationRunsALanguageModelOfAnotherMixerAsItsForwardWould()
    {
        manual_seed(4);
        var config = TinyConfigs.Tiny();
        var model = new MambaForCausalLM(config, _ => new PreviousTokenMixer(config.HiddenSize));
        model.eval();
        int[][] prompts = { new[] { 3, 5, 7, 9 }, new[] { 4 } };

        // Greedy decoding by whole forwards, one prompt at a time: what the loop's prefill, steps and row selection
        // must reproduce. The first prompt stops early at a stop token, so its row leaves the batch mid-run.
        List<int> Alone(int[] prompt, ISet<int> stops)
        {
            using var _ = no_grad();
            var ids = prompt.ToList();
            var generated = new List<int>();
            for (int i = 0; i < 6; i++)
            {
                int next = (int)model.forward(tensor(ids.Select(t => (long)t).ToArray()).unsqueeze(0), null)[0, -1].argmax().item<long>();
                if (stops.Contains(next)) break;
                generated.Add(next);
                ids.Add(next);
            }
            return generated;
        }
        var stop = new HashSet<int> { Alone(prompts[0], new HashSet<int>())[2] };
        var expected = prompts.Select(p => Alone(p, stop)).ToArray();
        Assert.True(expected[0].Count < expected[1].Count, "the stop token must end the first row before the second");

        var results = new GenerationLoop(model).Run(prompts, SamplingOptions.Greedy(6), stop, cancellationToken: TestContext.Current.CancellationToken);
        for (int row = 0; row < prompts.Length; row++)
            Assert.Equal(expected[row], results[row].TokenIds);
    }

    [Fact]
    public void TheMambaMixerRejectsAnotherMixersState()
    {
        IMixer mixer = new MambaMixer(TinyConfigs.Tiny());
        using var foreign = new LastTokenState(zeros(1, 16));
        using var _ = no_grad();
        var e = Assert.Throws<ArgumentException>(() => mixer.Step(zeros(1, 16), foreign));
        Assert.Contains(nameof(MambaLayerState), e.Message);
        Assert.Contains(nameof(LastTokenState), e.Message);
        Assert.Throws<ArgumentException>(() => mixer.Prefill(zeros(1, 3, 16), null, foreign));
        Assert.Throws<ArgumentException>(() => mixer.Continue(zeros(1, 3, 16), foreign));
    }

    [Fact]
    public void KernelsWithoutAFamilysOperationsServeTheNormsButNotTheMambaMixer()
    {
        var shared = new SharedOnlyKernels();
        var mamba = new MambaModel(TinyConfigs.Tiny());
        var e = Assert.Throws<ArgumentException>(() => mamba.Kernels = shared);
        Assert.Contains(nameof(IMambaKernels), e.Message);
        Assert.Contains(nameof(SharedOnlyKernels), e.Message);
        Assert.Null(mamba.Kernels);   // nothing was half set

        var config = TinyConfigs.Tiny();
        var other = new MambaModel(config, _ => new PreviousTokenMixer(config.HiddenSize)) { Kernels = shared };
        Assert.Same(shared, other.Kernels);
        using var _ = no_grad();
        other.forward(randint(0, config.VocabSize, new long[] { 1, 4 }), null);
        Assert.Equal(config.NumHiddenLayers + 1, shared.RmsNormCalls);   // every block's norm and the final one

        mamba.Kernels = new ReferenceKernels();   // a full Mamba-1 kernel set is taken
        Assert.IsType<ReferenceKernels>(mamba.Kernels);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheMambaMixerScalesOutProjByDepthWhenTheConfigSaysSo(bool rescale)
    {
        manual_seed(3);
        var config = TinyConfigs.Tiny();
        config.NumHiddenLayers = 4;
        config.RescalePrenormResidual = rescale;
        var mixer = (MambaMixer)new MambaModel(config).layers[0].mixer;
        // kaiming_uniform(a = √5) draws within ±1/√fan_in; the rescale divides by √n_layer.
        double bound = 1 / Math.Sqrt(config.InnerSize) / (rescale ? Math.Sqrt(config.NumHiddenLayers) : 1);
        double max = mixer.out_proj.weight!.abs().max().item<float>();
        Assert.InRange(max, 0.8 * bound, bound * 1.0001);
    }

    private sealed class NotAModule : IMixer
    {
        public ISharedKernels? Kernels { get; set; }
        public Tensor forward(Tensor hidden, Tensor? attentionMask) => hidden;
        public Tensor Prefill(Tensor hidden, Tensor? attentionMask, IMixerState state) => hidden;
        public Tensor Continue(Tensor hidden, IMixerState state) => hidden;
        public Tensor Step(Tensor hidden, IMixerState state, Tensor? residual = null) => hidden;
        public IMixerState NewState(long batch, Device device) => throw new NotSupportedException();
        public void InitialiseWeights(int numLayers) { }
    }

    // Only the operations every family shares, counting the norms it serves.
    private sealed class SharedOnlyKernels : ISharedKernels
    {
        public int RmsNormCalls { get; private set; }
        public string Name => "shared-only";
        public Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? bias, bool silu) => MambaKernels.Reference.CausalConv1d(x, weight, bias, silu);

        public Tensor RmsNorm(Tensor x, Tensor weight, double eps)
        {
            RmsNormCalls++;
            return MambaKernels.Reference.RmsNorm(x, weight, eps);
        }
    }
}
