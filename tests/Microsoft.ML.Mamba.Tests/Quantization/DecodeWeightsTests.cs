using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Quantization;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Quantization;

/// <summary><see cref="MambaForCausalLM.PrepareDecodeWeights"/>: int8 and bf16 projections in the per-token step.</summary>
public class DecodeWeightsTests
{
    private static readonly long[] Tokens = [3, 14, 15, 9, 2, 6, 5, 35, 8, 9, 7, 1];

    private static MambaForCausalLM Model(int seed, bool tied = true, int hidden = 16)
    {
        var config = TinyConfigs.Tiny(37, tied);
        config.HiddenSize = hidden;
        config.InitializerRange = 0.5;   // peaked distributions, as GenerationModels.Tiny
        var model = TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(config));
        model.eval();
        return model;
    }

    // A Mamba-2 model with hidden 24 (in_proj 24 -> 48 + 64 + 12 rows, out_proj 48 -> 24).
    private static MambaForCausalLM Mamba2Model(int seed, bool tied = false)
    {
        var config = TinyConfigs.TinyMamba2(37, tied);
        config.HiddenSize = 24;
        config.InitializerRange = 0.5;
        var model = TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(config));
        model.eval();
        return model;
    }

    // A second model with the same weights, copied: a seed alone is not enough while other tests draw from the global
    // generator in parallel without TorchGlobalRandom.
    private static MambaForCausalLM Twin(MambaForCausalLM model)
    {
        var twin = TorchGlobalRandom.Seeded(0, () => new MambaForCausalLM(model.Config));   // under the lock: others stay seeded
        using (no_grad())
            foreach (var (mine, theirs) in twin.parameters().Zip(model.parameters()))
                mine.copy_(theirs);
        twin.eval();
        return twin;
    }

    // Logits of `steps` decoding steps from an empty cache, batch 2 (the second row reads the tokens backwards).
    private static Tensor StepLogits(MambaForCausalLM model, int steps)
    {
        using var _ = no_grad();
        using var cache = model.Backbone.NewCache(2);
        var all = new List<Tensor>();
        for (int i = 0; i < steps; i++)
            all.Add(model.Step(tensor(new[] { Tokens[i % Tokens.Length], Tokens[^(1 + i % Tokens.Length)] }), cache));
        return stack(all).DetachFromDisposeScope();
    }

    // The weight a packed projection stands for, as fp32.
    private static void Round(Tensor weight, DecodeWeights format)
    {
        using var p = PackedProjection.Pack(weight, null, format, "w");
        var value = format == DecodeWeights.Int8 ? p.Weight.to_type(ScalarType.Float32) * p.Scales!.unsqueeze(1) : p.Weight.to_type(ScalarType.Float32);
        weight.copy_(value);
    }

    [Theory]
    [InlineData(DecodeWeights.Int8)]
    [InlineData(DecodeWeights.BFloat16)]
    public void PackedStepEqualsTheFp32StepOnTheRoundedWeights(DecodeWeights format)
    {
        // Every packed projection (in_proj, x_proj, out_proj, lm_head) must be the one used, with its own rounding:
        // a model whose fp32 weights are set to those rounded values gives the same logits up to fp32 summation order.
        using var _ = NewDisposeScope();
        using var packed = Model(21, tied: false, hidden: 40);
        using var rounded = Twin(packed);
        using (no_grad())
        {
            foreach (var layer in rounded.Backbone.layers)
            {
                var m = (MambaMixer)layer.mixer;
                Round(m.in_proj.weight!, format);
                Round(m.x_proj!.weight!, format);
                Round(m.out_proj.weight!, format);
            }
            Round(rounded.lm_head!.weight!, format);
        }
        Assert.Equal(format, packed.PrepareDecodeWeights(format));
        Assert.Equal(format, packed.DecodeWeights);
        var got = StepLogits(packed, 8);
        var want = StepLogits(rounded, 8);
        var error = (got - want).abs().max().item<float>();
        Assert.True(error < 2e-4f, $"{format}: packed and rounded-fp32 logits differ by {error}");
        // ...while the fp32 model's own logits do differ (the test would notice the fp32 weights being used).
        packed.PrepareDecodeWeights(DecodeWeights.Float32);
        Assert.True((StepLogits(packed, 8) - got).abs().max().item<float>() > 1e-4f);
    }

    [Theory]
    [InlineData(DecodeWeights.Int8)]
    [InlineData(DecodeWeights.BFloat16)]
    public void PackedMamba2StepEqualsTheFp32StepOnTheRoundedWeights(DecodeWeights format)
    {
        // Mamba-2 layers pack in_proj and out_proj (the conv/SSD step and the gated norm between them are the mixer's).
        using var _ = NewDisposeScope();
        using var packed = Mamba2Model(22);
        using var rounded = Twin(packed);
        using (no_grad())
        {
            foreach (var layer in rounded.Backbone.layers)
            {
                var m = (Mamba2Mixer)layer.mixer;
                Round(m.in_proj.weight!, format);
                Round(m.out_proj.weight!, format);
            }
            Round(rounded.lm_head!.weight!, format);
        }
        Assert.Equal(format, packed.PrepareDecodeWeights(format));
        Assert.All(packed.Backbone.layers, l => Assert.NotNull(((Mamba2Mixer)l.mixer).PackedStep));
        var got = StepLogits(packed, 9);
        var want = StepLogits(rounded, 9);
        var error = (got - want).abs().max().item<float>();
        Assert.True(error < 2e-4f, $"{format}: packed and rounded-fp32 Mamba-2 logits differ by {error}");
        packed.PrepareDecodeWeights(DecodeWeights.Float32);
        Assert.All(packed.Backbone.layers, l => Assert.Null(((Mamba2Mixer)l.mixer).PackedStep));
        var own = StepLogits(packed, 9);
        Assert.True((own - got).abs().max().item<float>() > 1e-4f);
        using var fresh = Twin(packed);
        Assert.True(own.eq(StepLogits(fresh, 9)).all().item<bool>());   // Float32 decodes on the model's own weights again
    }

    [Fact]
    public void Mamba2WeightBytesCountInAndOutProjections()
    {
        using var model = Mamba2Model(23, tied: true);
        model.PrepareDecodeWeights(DecodeWeights.Int8);
        long expected = 37 * 24 + 37 * 4;   // the tied vocabulary projection: int8 rows and their scales
        foreach (var layer in model.Backbone.layers)
        {
            var m = (Mamba2Mixer)layer.mixer;
            expected += m.in_proj.weight!.numel() + m.in_proj.weight!.size(0) * 4 + m.out_proj.weight!.numel() + m.out_proj.weight!.size(0) * 4;
        }
        Assert.Equal(expected, model.PackedDecodeWeightBytes);
        model.PrepareDecodeWeights(DecodeWeights.Float32);
    }

    [Theory]
    [InlineData(DecodeWeights.Int8, 0.95)]
    [InlineData(DecodeWeights.BFloat16, 0.95)]
    public void GreedyDecodingAgreesWithFp32OnMostTokens(DecodeWeights format, double minimumAgreement)
    {
        // Teacher-forced: both models see the fp32 model's greedy tokens, and the packed model's argmax is compared at
        // every step. Weight-only rounding moves each logit by about 1e-3 of its size (int8: half a step of
        // max|row| / 127 per weight), so the argmax changes only where the top two logits are that close; random tiny
        // models can have a near tie in 200 steps, hence 95% rather than all (measured: 200 of 200 for both formats); a
        // broken path (a wrong scale, a transposed weight) would agree on about 1 in 37. Free-running greedy sequences
        // would diverge for good after the first near tie, which says little about the error.
        using var _ = NewDisposeScope();
        using var fp32 = Model(31);
        using var packed = Twin(fp32);
        Assert.Equal(format, packed.PrepareDecodeWeights(format));
        using var noGrad = no_grad();
        int agree = 0, steps = 0;
        foreach (long start in new long[] { 3, 17, 29, 5 })
        {
            using var cacheA = fp32.Backbone.NewCache(1);
            using var cacheB = packed.Backbone.NewCache(1);
            long token = start;
            for (int i = 0; i < 50; i++, steps++)
            {
                using var scope = NewDisposeScope();
                var ids = tensor(new[] { token });
                long want = fp32.Step(ids, cacheA).argmax(-1).item<long>();
                long got = packed.Step(ids, cacheB).argmax(-1).item<long>();
                if (got == want) agree++;
                token = want;
            }
        }
        double agreement = agree / (double)steps;
        Assert.True(agreement >= minimumAgreement, $"{format}: {agree} of {steps} greedy tokens agree with fp32");
    }

    [Fact]
    public void PromptsStayFp32SoTheFirstGeneratedTokenIsTheFp32One()
    {
        int[][] prompts = [[3, 14, 15, 9, 2, 6], [5], [35, 8, 9, 7]];
        using var fp32 = Model(41);
        using var packed = Twin(fp32);
        packed.PrepareDecodeWeights(DecodeWeights.Int8);
        var want = new GenerationLoop(fp32).Run(prompts, SamplingOptions.Greedy(6), cancellationToken: TestContext.Current.CancellationToken);
        var got = new GenerationLoop(packed).Run(prompts, SamplingOptions.Greedy(6), cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < prompts.Length; r++)
        {
            Assert.Equal(want[r].TokenIds[0], got[r].TokenIds[0]);   // from the prefill's logits: the same weights
            Assert.Equal(6, got[r].TokenIds.Count);
        }
    }

    [Fact]
    public void Float32ReleasesThePackedWeightsAndRestoresExactLogits()
    {
        using var _ = NewDisposeScope();
        using var model = Model(51);
        var before = StepLogits(model, 5);
        model.PrepareDecodeWeights(DecodeWeights.Int8);
        Assert.All(model.Backbone.layers, l => Assert.NotNull(((MambaMixer)l.mixer).PackedStep));
        Assert.True(model.PackedDecodeWeightBytes > 0);
        Assert.Equal(DecodeWeights.Float32, model.PrepareDecodeWeights(DecodeWeights.Float32));
        Assert.All(model.Backbone.layers, l => Assert.Null(((MambaMixer)l.mixer).PackedStep));
        Assert.Equal(0, model.PackedDecodeWeightBytes);
        Assert.True(StepLogits(model, 5).eq(before).all().item<bool>());
        Assert.Throws<ArgumentOutOfRangeException>(() => model.PrepareDecodeWeights((DecodeWeights)7));
    }

    [Fact]
    public void ModelCastAfterPackingDecodesOnItsOwnWeights()
    {
        // The packed copies are CPU fp32 machinery: a model cast to bf16 afterwards must not feed bf16 states to them.
        using var _ = NewDisposeScope();
        using var packed = Model(81);
        using var plain = Twin(packed);
        packed.PrepareDecodeWeights(DecodeWeights.Int8);
        packed.to(ScalarType.BFloat16);
        plain.to(ScalarType.BFloat16);
        using var noGrad = no_grad();
        using var cacheA = packed.Backbone.NewCache(2);
        using var cacheB = plain.Backbone.NewCache(2);
        var ids = tensor(new long[] { 3, 14 });
        var got = packed.Step(ids, cacheA);
        Assert.True(got.eq(plain.Step(ids, cacheB)).all().item<bool>());
    }

    [Fact]
    public void NonFp32ModelKeepsItsWeightsWithAWarning()
    {
        using var model = Model(61);
        model.to(ScalarType.BFloat16);
        var warnings = new List<string>();
        void Listen(string m) { if (m.Contains("decode weights", StringComparison.Ordinal)) lock (warnings) warnings.Add(m); }
        MambaLog.Message += Listen;
        try
        {
            Assert.Equal(DecodeWeights.Float32, model.PrepareDecodeWeights(DecodeWeights.Int8));
        }
        finally
        {
            MambaLog.Message -= Listen;
        }
        Assert.Equal(DecodeWeights.Float32, model.DecodeWeights);
        var warning = Assert.Single(warnings);
        Assert.Contains("BFloat16", warning);
        Assert.Contains("ScalarType.Float32", warning);
    }

    [Fact]
    public void GeneratorOverloadPreparesTheModel()
    {
        var tokenizer = MambaTokenizers.Bytes();
        using var model = TorchGlobalRandom.Seeded(71, () => new MambaForCausalLM(TinyConfigs.Tiny(tokenizer.VocabularySize)));
        model.eval();
        var generator = new MambaGenerator(model, tokenizer, DecodeWeights.BFloat16);
        Assert.Equal(DecodeWeights.BFloat16, model.DecodeWeights);
        var result = generator.Generate("ab", SamplingOptions.Greedy(4), TestContext.Current.CancellationToken);
        Assert.Equal(4, result.TokenIds.Count);
    }
}
