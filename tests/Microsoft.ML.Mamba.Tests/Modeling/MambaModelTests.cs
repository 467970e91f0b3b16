using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Modeling;

public class MambaModelTests
{
    [Fact]
    public void ParameterNamesFollowHuggingFace()
    {
        var names = new MambaForCausalLM(TinyConfigs.Tiny()).named_parameters().Select(p => p.name).ToHashSet();
        string[] expected =
        {
            "backbone.embeddings.weight", "backbone.norm_f.weight", "backbone.layers.0.norm.weight",
            "backbone.layers.1.mixer.in_proj.weight", "backbone.layers.1.mixer.conv1d.weight", "backbone.layers.1.mixer.conv1d.bias",
            "backbone.layers.1.mixer.x_proj.weight", "backbone.layers.1.mixer.dt_proj.weight", "backbone.layers.1.mixer.dt_proj.bias",
            "backbone.layers.1.mixer.out_proj.weight", "backbone.layers.1.mixer.A_log", "backbone.layers.1.mixer.D",
        };
        foreach (var name in expected) Assert.Contains(name, names);
        Assert.DoesNotContain("lm_head.weight", names); // tied
        Assert.Equal(2 + 2 * 10, names.Count); // embeddings, norm_f, and 10 per layer
        Assert.Contains("lm_head.weight", new MambaForCausalLM(TinyConfigs.Tiny(tied: false)).named_parameters().Select(p => p.name));
    }

    [Fact]
    public void InitialisationFollowsTheReference()
    {
        var config = TinyConfigs.Tiny();
        var mixer = (MambaMixer)new MambaForCausalLM(config).Backbone.layers[0].mixer;
        // S4D-real: A = -(1..N) in every channel; D = 1.
        var a = (-mixer.A_log.exp()).detach();
        TensorData.AssertClose(a, -arange(1, config.StateSize + 1, dtype: ScalarType.Float32).repeat(config.InnerSize, 1), 1e-6, 1e-6, "A");
        TensorData.AssertClose(mixer.D, ones(config.InnerSize), 0, 0, "D");
        // Δ = softplus(bias) starts inside [dt_min, dt_max].
        var dt = nn.functional.softplus(mixer.dt_proj.bias!).detach();
        Assert.True(dt.min().item<float>() >= config.TimeStepMin * 0.999);
        Assert.True(dt.max().item<float>() <= config.TimeStepMax * 1.001);
    }

    [Fact]
    public void LogitsHaveTheVocabularyShape()
    {
        var model = new MambaForCausalLM(TinyConfigs.Tiny());
        var logits = model.forward(randint(0, 37, new long[] { 3, 5 }), null);
        Assert.Equal(new long[] { 3, 5, 37 }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PaddedBatchMatchesEachSequenceAlone(bool leftPadding)
    {
        manual_seed(11);
        var model = new MambaForCausalLM(TinyConfigs.Tiny());
        model.eval();
        long[][] sequences = { new long[] { 5, 9, 3, 7, 1, 2 }, new long[] { 4, 8 }, new long[] { 6, 6, 6, 30 } };
        int width = sequences.Max(s => s.Length);
        var ids = zeros(sequences.Length, width, dtype: ScalarType.Int64);
        var mask = zeros(sequences.Length, width, dtype: ScalarType.Int64);
        for (int i = 0; i < sequences.Length; i++)
        {
            int offset = leftPadding ? width - sequences[i].Length : 0;
            for (int t = 0; t < sequences[i].Length; t++)
            {
                ids[i, offset + t] = sequences[i][t];
                mask[i, offset + t] = 1;
            }
        }
        // Pad tokens get a real id so a leak would show.
        ids.masked_fill_(mask.eq(0), 13);
        using var _ = no_grad();
        var batched = model.forward(ids, mask);
        for (int i = 0; i < sequences.Length; i++)
        {
            int offset = leftPadding ? width - sequences[i].Length : 0;
            var alone = model.forward(tensor(sequences[i]).unsqueeze(0), null)[0];
            TensorData.AssertClose(batched[i].narrow(0, offset, sequences[i].Length), alone, 1e-5, 1e-5, $"sequence {i}");
        }
    }

    [Theory]
    [InlineData(SequencePooling.LastToken)]
    [InlineData(SequencePooling.Mean)]
    public void ClassifierPoolsOnlyRealTokens(SequencePooling pooling)
    {
        manual_seed(5);
        var model = new MambaForSequenceClassification(TinyConfigs.Tiny(), numLabels: 3, pooling);
        model.eval();
        using var _ = no_grad();
        var ids = tensor(new long[,] { { 5, 9, 3, 7 }, { 4, 8, 13, 13 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 1 }, { 1, 1, 0, 0 } });
        var batched = model.forward(ids, mask);
        Assert.Equal(new long[] { 2, 3 }, batched.shape);
        var alone = model.forward(tensor(new long[,] { { 4, 8 } }), null);
        TensorData.AssertClose(batched[1], alone[0], 1e-5, 1e-5, "padded row");
    }

    [Fact]
    public void BackwardReachesEveryParameter()
    {
        var model = new MambaForSequenceClassification(TinyConfigs.Tiny(), numLabels: 2);
        var logits = model.forward(randint(0, 37, new long[] { 2, 6 }), null);
        nn.functional.cross_entropy(logits, tensor(new long[] { 0, 1 })).backward();
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.NotNull(p.grad);
            Assert.True(p.grad!.abs().sum().item<float>() > 0, $"{name} got no gradient");
        }
    }
}
