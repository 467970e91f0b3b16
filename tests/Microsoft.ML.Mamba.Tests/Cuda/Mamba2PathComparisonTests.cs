using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>
/// The bf16 criterion the native Mamba-2 decoder is held to (<see cref="Mamba2PathComparison"/>), tried on the CPU with
/// TorchSharp steps standing in for the decoder: a step that differs from the model's only in the order its sums add
/// up (its projections multiplied in fp32 and rounded to bf16 once, as the decoder's GEMVs do, where the step runs
/// bf16 GEMMs) passes, and one with a misplaced rounding point (the gated norm's output rounded once, where the step
/// rounds the normalised value and then its product with the weight) fails.
/// </summary>
public class Mamba2PathComparisonTests
{
    // The deep bf16 model of CudaMamba2DecoderTests (16 layers, 8 heads of 32, state 64), on the CPU.
    private static MambaForCausalLM Model()
    {
        var model = TorchGlobalRandom.Seeded(3, () => new MambaForCausalLM(CudaMamba2DecoderTests.Config("deep")));
        using (no_grad())
            foreach (var layer in model.Backbone.layers)
            {
                var m = (Mamba2Mixer)layer.mixer;
                m.D.normal_(1, 0.5);
                m.norm.weight.normal_(1, 0.3);
            }
        model.to(ScalarType.BFloat16);
        model.eval();
        return model;
    }

    private static int[][] Prompts(int vocab)
    {
        var random = new Random(11);
        return Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 64).Select(_ => random.Next(vocab)).ToArray()).ToArray();
    }

    [Fact]
    public void TheSameStepReimplementedAgreesExactly()
    {
        using var model = Model();
        var result = Mamba2PathComparison.Compare(model, Prompts(model.Config.VocabSize), 12, resync: false,
            cache => new TorchPath(model, cache, reorderSums: false, roundGateOnce: false));
        Assert.Null(result.Failure);
        Assert.Contains("logits at most 0.00 bf16 ulps apart", result.Text);
    }

    [Fact]
    public void SumsAddedInAnotherOrderStayWithinTheBound()
    {
        using var model = Model();
        var result = Mamba2PathComparison.Compare(model, Prompts(model.Config.VocabSize), 40, resync: true,
            cache => new TorchPath(model, cache, reorderSums: true, roundGateOnce: false));
        Assert.True(result.Failure is null, result.Failure + "\n" + result.Text);
        Assert.DoesNotContain("logits at most 0.00 bf16 ulps apart", result.Text);   // the perturbation did reach the logits
    }

    [Fact]
    public void AMisplacedRoundingPointFails()
    {
        using var model = Model();
        var result = Mamba2PathComparison.Compare(model, Prompts(model.Config.VocabSize), 40, resync: true,
            cache => new TorchPath(model, cache, reorderSums: false, roundGateOnce: true));
        Assert.NotNull(result.Failure);
    }

    // The TorchSharp step written out layer by layer on its own copy of the states, optionally with the projections
    // multiplied in fp32 and rounded once (another order of the same sums) or the gated norm rounded once.
    private sealed class TorchPath : IMamba2DecodePath
    {
        private readonly MambaForCausalLM _model;
        private readonly MambaCache _cache;
        private readonly bool _reorderSums, _roundGateOnce;

        public TorchPath(MambaForCausalLM model, MambaCache prefilled, bool reorderSums, bool roundGateOnce)
        {
            _model = model;
            _reorderSums = reorderSums;
            _roundGateOnce = roundGateOnce;
            var batch = ((Mamba2LayerState)prefilled.Layers[0]).SsmState.size(0);
            _cache = model.Backbone.NewCache(batch);
            LoadState(prefilled);
            Logits = empty(0);
        }

        public void LoadState(MambaCache cache)
        {
            for (int i = 0; i < cache.Layers.Count; i++)
            {
                var from = (Mamba2LayerState)cache.Layers[i];
                var to = (Mamba2LayerState)_cache.Layers[i];
                to.ConvState.copy_(from.ConvState);
                to.SsmState.copy_(from.SsmState);
            }
        }

        public Tensor Logits { get; private set; }

        public void Step(Tensor tokens, long[] greedy)
        {
            var config = _model.Config;
            var backbone = _model.Backbone;
            var hidden = backbone.embeddings.forward(tokens);
            for (int i = 0; i < backbone.layers.Count; i++)
            {
                var block = backbone.layers[i];
                var m = (Mamba2Mixer)block.mixer;
                var state = (Mamba2LayerState)_cache.Layers[i];
                var residual = config.ResidualInFp32 ? hidden.to_type(ScalarType.Float32) : hidden;
                var projected = Project(block.norm.forward(hidden.to_type(block.norm.weight.dtype)), m.in_proj.weight!);
                long inner = config.InnerSize, channels = inner + 2 * config.NGroups * config.StateSize;
                var z = projected.narrow(-1, 0, inner);
                var xBC = projected.narrow(-1, inner, channels);
                var dt = projected.narrow(-1, inner + channels, config.Heads);
                var weights = new Mamba2StepWeights(config.Heads, config.HeadDim, config.NGroups, config.StateSize, m.conv1d.weight!,
                    m.conv1d.bias, m.dt_bias, m.A_log, m.D, config.TimeStepLimit[0], config.TimeStepLimit[1]);
                var kernels = m.Kernels ?? MambaKernels.Default as IMamba2Kernels ?? (IMamba2Kernels)MambaKernels.Reference;
                var y = kernels.StateSpaceDualStep(xBC, dt, state.ConvState, state.SsmState, weights);
                var gated = _roundGateOnce ? GatedNormRoundedOnce(y, z, m.norm.weight, config.LayerNormEpsilon) : m.norm.forward(y, z);
                hidden = residual + Project(gated.to_type(m.out_proj.weight!.dtype), m.out_proj.weight!);
            }
            var final = backbone.norm_f.forward(hidden.to_type(backbone.norm_f.weight.dtype));
            var head = _model.OutputEmbeddings;
            Logits = Project(final.to_type(head.dtype), head).to_type(ScalarType.Float32);
            Logits.argmax(-1).data<long>().CopyTo(greedy);
        }

        // x W^T (no biases in this model): a bf16 GEMM, or the same products added in fp32 in another order.
        private Tensor Project(Tensor x, Tensor weight) => _reorderSums
            ? nn.functional.linear(x.to_type(ScalarType.Float32), weight.to_type(ScalarType.Float32)).to_type(x.dtype)
            : nn.functional.linear(x, weight);

        // GatedRmsNorm with the weight applied in fp32 and one rounding at the end.
        private static Tensor GatedNormRoundedOnce(Tensor y, Tensor z, Tensor weight, double eps)
        {
            var h = y.to_type(ScalarType.Float32) * nn.functional.silu(z.to_type(ScalarType.Float32));
            var normed = h * TorchScalars.Add(TorchScalars.Square(h).mean(new long[] { -1 }, keepdim: true), eps).rsqrt();
            return (normed * weight.to_type(ScalarType.Float32)).to_type(y.dtype);
        }

        public Tensor ConvState(int layer) => ((Mamba2LayerState)_cache.Layers[layer]).ConvState;

        public Tensor SsmState(int layer) => ((Mamba2LayerState)_cache.Layers[layer]).SsmState;

        public void Dispose() => _cache.Dispose();
    }
}
