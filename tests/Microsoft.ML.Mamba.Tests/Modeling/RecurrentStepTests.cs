using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>Decoding one token at a time with the cache must give what the full forward gives.</summary>
public class RecurrentStepTests
{
    public static TheoryData<bool, bool> Variants => new() { { false, false }, { true, false }, { false, true } };

    [Theory]
    [MemberData(nameof(Variants))]
    public void StepByStepEqualsFullForward(bool timeInvariant, bool ungated)
    {
        manual_seed(3);
        var config = TinyConfigs.Tiny();
        config.TimeInvariantSsm = timeInvariant;
        config.Ungated = ungated;
        var model = new MambaForCausalLM(config);
        model.eval();
        using var _ = no_grad();
        var ids = randint(0, config.VocabSize, new long[] { 2, 9 });
        var full = model.forward(ids, null);                          // (2, 9, V)

        using var cache = model.Backbone.NewCache(2);
        var prefill = model.Prefill(ids.narrow(1, 0, 3), null, cache); // prompt of 3, then 6 steps
        TensorData.AssertClose(prefill, full.narrow(1, 0, 3), 1e-5, 1e-5, "prefill logits");
        for (int t = 3; t < 9; t++)
        {
            var logits = model.Step(ids.select(1, t), cache);
            TensorData.AssertClose(logits, full.select(1, t), 1e-4, 1e-4, $"step {t}");
        }
        Assert.Equal(9, cache.Position);
    }

    [Fact]
    public void Bf16StepsReuseOneFp32CopyOfTheSmallParametersAndMatchTheFullForward()
    {
        manual_seed(5);
        var model = new MambaForCausalLM(TinyConfigs.Tiny());
        model.to(ScalarType.BFloat16);
        model.eval();
        using var _ = no_grad();
        var ids = randint(0, TinyConfigs.Tiny().VocabSize, new long[] { 2, 7 });
        var full = model.forward(ids, null).to_type(ScalarType.Float32);
        using var cache = model.Backbone.NewCache(2);
        model.Prefill(ids.narrow(1, 0, 3), null, cache);
        var layer = (MambaLayerState)cache.Layers[0];
        Microsoft.ML.Mamba.Scan.DecodeStepWeights? first = null;
        for (int t = 3; t < 7; t++)
        {
            var logits = model.Step(ids.select(1, t), cache).to_type(ScalarType.Float32);
            TensorData.AssertClose(logits, full.select(1, t), 5e-2, 5e-2, $"bf16 step {t}");
            first ??= layer.StepWeights;
            Assert.Same(first, layer.StepWeights);   // made once per decoding, not per token
        }
        Assert.Equal(ScalarType.Float32, first!.ALog.dtype);
        Assert.Equal(ScalarType.Float32, first.ConvWeight.dtype);
        Assert.Equal(ScalarType.BFloat16, first.DtProjWeight.dtype);   // projections stay in the model's dtype
    }

    [Fact]
    public void LeftPaddedPrefillThenStepsEqualEachPromptAlone()
    {
        manual_seed(4);
        var model = new MambaForCausalLM(TinyConfigs.Tiny());
        model.eval();
        using var _ = no_grad();
        var ids = tensor(new long[,] { { 13, 13, 5, 9 }, { 4, 8, 1, 2 } });
        var mask = tensor(new long[,] { { 0, 0, 1, 1 }, { 1, 1, 1, 1 } });
        using var cache = model.Backbone.NewCache(2);
        model.Prefill(ids, mask, cache);
        var next = tensor(new long[] { 7, 7 });
        var stepped = model.Step(next, cache);

        var alone = model.forward(tensor(new long[,] { { 5, 9, 7 } }), null);
        TensorData.AssertClose(stepped[0], alone[0, 2], 1e-4, 1e-4, "left-padded row");
        var alone2 = model.forward(tensor(new long[,] { { 4, 8, 1, 2, 7 } }), null);
        TensorData.AssertClose(stepped[1], alone2[0, 4], 1e-4, 1e-4, "full row");
    }

    [Fact]
    public void AblationsTrainAndChangeTheParameterSet()
    {
        var config = TinyConfigs.Tiny();
        config.TimeInvariantSsm = true;
        config.Ungated = true;
        var model = new MambaForCausalLM(config);
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.Contains("backbone.layers.0.mixer.B_lti", names);
        Assert.DoesNotContain("backbone.layers.0.mixer.x_proj.weight", names);
        Assert.Equal(new long[] { config.InnerSize, config.HiddenSize }, ((MambaMixer)model.Backbone.layers[0].mixer).in_proj.weight!.shape);
        var logits = model.forward(randint(0, config.VocabSize, new long[] { 2, 5 }), null);
        logits.sum().backward();
        Assert.True(((MambaMixer)model.Backbone.layers[0].mixer).B_lti!.grad!.abs().sum().item<float>() > 0);
        // The switches survive config.json; default models do not write them.
        Assert.True(MambaConfig.FromJson(config.ToJson()).TimeInvariantSsm);
        Assert.DoesNotContain("time_invariant_ssm", TinyConfigs.Tiny().ToJson());
    }
}
