using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

/// <summary>
/// Our Mamba-2 loader and forward against transformers' Mamba2ForCausalLM (its pure-PyTorch path) on a tiny random,
/// perturbed checkpoint with 6 heads of 16, 2 groups and chunks of 8 (tests/fixtures/hf-tiny-mamba2, made by
/// tests/fixtures/tools/make_hf_mamba2_fixture.py), on the reference kernels.
/// </summary>
public class HuggingFaceMamba2ParityTests
{
    internal static readonly string Fixture = Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba2");
    private static readonly string MambaSsmForm = Path.Combine(Fixture, "mamba-ssm-form");

    private static Dictionary<string, Tensor> Expected() => SafeTensorsFile.Load(Path.Combine(Fixture, "expected.safetensors"));

    private static MambaForCausalLM Load(string directory)
    {
        var model = MambaForCausalLM.FromPretrained(directory);
        model.eval();
        return model;
    }

    [Fact]
    public void TheFixtureReadsAsAMamba2Model()
    {
        using var model = Load(Fixture);
        Assert.Equal(MambaArchitecture.Mamba2, model.Config.Architecture);
        Assert.Equal((6, 16, 2, 8), (model.Config.Heads, model.Config.HeadDim, model.Config.NGroups, model.Config.ChunkSize));
        Assert.Equal(double.PositiveInfinity, model.Config.TimeStepLimit[1]);   // transformers 5's {"__float__": "Infinity"}
        Assert.False(model.Config.NormPerGroup);
        Assert.All(model.Backbone.layers, layer => Assert.IsType<Mamba2Mixer>(layer.mixer));
    }

    [Fact]
    public void LogitsMatchTransformers()
    {
        var expected = Expected();
        using var model = Load(Fixture);
        using var _ = no_grad();
        var logits = model.forward(expected["input_ids"], null);
        double maxError = (logits - expected["logits"]).abs().max().item<float>();
        Assert.True(maxError <= 1e-4, $"max abs logit error {maxError:E2} > 1e-4");
        TestContext.Current.SendDiagnosticMessage($"Mamba-2: max abs logit error vs transformers: {maxError:E2}");
    }

    [Fact]
    public void MaskedLogitsMatchTransformers()
    {
        var expected = Expected();
        using var model = Load(Fixture);
        using var _ = no_grad();
        var logits = model.forward(expected["mask_input_ids"], expected["mask_attention_mask"]);
        var want = expected["mask_logits"];
        // Padded positions' logits are not compared: only the tokens' (row 0 starts after 3 pads).
        double real0 = (logits[0].narrow(0, 3, 10) - want[0].narrow(0, 3, 10)).abs().max().item<float>();
        double rest = (logits.narrow(0, 1, 2) - want.narrow(0, 1, 2)).abs().max().item<float>();
        Assert.True(real0 <= 1e-4 && rest <= 1e-4, $"masked logit errors {real0:E2} (padded row), {rest:E2} (others)");
        // And the padding changed the padded row (the mask matters): the fixture's rows differ from unpadded ones.
        Assert.True((logits[0].narrow(0, 3, 10) - expected["logits"][0].narrow(0, 3, 10)).abs().max().item<float>() > 1e-3);
    }

    [Fact]
    public void GreedyContinuationMatchesTransformersWithAndWithoutTheCache()
    {
        var expected = Expected();
        using var model = Load(Fixture);
        using var _ = no_grad();
        var prompt = expected["greedy_prompt"];
        var want = expected["greedy_output"][0].data<long>().ToArray();

        Assert.Equal(want, GreedyContinuation.WithCache(model, prompt, want.Length));
        Assert.Equal(want, GreedyContinuation.WithFullForward(model, prompt, want.Length));

        // And through the generation loop (left-padded batch prefill, row selection, steps) with greedy settings.
        var options = SamplingOptions.Greedy(want.Length - 7);
        options.StopAtEndOfSequence = false;
        var generated = new GenerationLoop(model).Run([prompt[0].data<long>().Select(t => (int)t).ToArray()], options,
            cancellationToken: TestContext.Current.CancellationToken)[0];
        Assert.Equal(want.Skip(7).Select(t => (int)t), generated.TokenIds);
    }

    [Fact]
    public void SaveThenLoadGivesTheSameLogitsAndAMamba2Config()
    {
        var expected = Expected();
        using var model = Load(Fixture);
        var dir = HuggingFaceParityTests.TempDir();
        model.SavePretrained(dir);
        var json = File.ReadAllText(Path.Combine(dir, "config.json"));
        Assert.Contains("\"model_type\": \"mamba2\"", json);
        Assert.Contains("Mamba2ForCausalLM", json);
        Assert.Contains("\"num_heads\": 6", json);
        Assert.DoesNotContain("intermediate_size", json);   // not a Mamba2Config field
        using var reloaded = Load(dir);
        using var _ = no_grad();
        TensorData.AssertClose(reloaded.forward(expected["input_ids"], null), expected["logits"], 0, 1e-4, "reloaded logits");
    }

    [Fact]
    public void ShardedCheckpointLoads()
    {
        var expected = Expected();
        var dir = HuggingFaceParityTests.TempDir();
        File.Copy(Path.Combine(Fixture, "config.json"), Path.Combine(dir, "config.json"));
        var written = SafeTensorsDirectory.SaveSharded(dir, SafeTensorsFile.Load(Path.Combine(Fixture, "model.safetensors")), 32 * 1024);
        Assert.Contains(SafeTensorsDirectory.IndexFileName, written);
        using var model = Load(dir);
        using var _ = no_grad();
        TensorData.AssertClose(model.forward(expected["input_ids"], null), expected["logits"], 0, 1e-4, "sharded logits");
    }

    [Fact]
    public void TheMambaSsmFormLoadsWithItsPerGroupNorm()
    {
        var expected = Expected();
        using var ssm = Load(MambaSsmForm);
        Assert.Equal(MambaArchitecture.Mamba2, ssm.Config.Architecture);
        Assert.True(ssm.Config.NormPerGroup);
        using var hf = Load(Fixture);
        using var _ = no_grad();
        var ids = expected["input_ids"];
        // Same weights; only the gated norm differs (per group of 48 channels instead of all 96).
        foreach (var (a, b) in ssm.named_parameters().Zip(hf.named_parameters()))
        {
            Assert.Equal(b.name, a.name);
            Assert.True(a.parameter.allclose(b.parameter, 0, 0), a.name);
        }
        var logits = ssm.forward(ids, null);
        Assert.True((logits - expected["logits"]).abs().max().item<float>() > 1e-3, "a per-group norm must change the logits");
        // The per-group norm is the whole-width one applied to each half: the same model with one group per norm
        // and the halves' weights gives the same hidden states.
        var config = hf.Config.Clone();
        config.NormPerGroup = true;
        using var grouped = new MambaForCausalLM(config);
        grouped.load_state_dict(hf.state_dict());
        grouped.eval();
        TensorData.AssertClose(grouped.forward(ids, null), logits, 0, 1e-5, "mamba_ssm form vs the HF weights with per-group norm");

        // Saved and reloaded, the per-group norm is remembered.
        var dir = HuggingFaceParityTests.TempDir();
        ssm.SavePretrained(dir);
        Assert.Contains("\"norm_per_group\": true", File.ReadAllText(Path.Combine(dir, "config.json")));
        using var reloaded = Load(dir);
        TensorData.AssertClose(reloaded.forward(ids, null), logits, 0, 1e-6, "reloaded mamba_ssm-form model");
    }

    [Fact]
    public void MismatchedMamba2CheckpointsFailBeforeTheModelIsBuilt()
    {
        var original = SafeTensorsFile.Load(Path.Combine(Fixture, "model.safetensors"));
        MambaCheckpointException LoadWith(Action<Dictionary<string, Tensor>> change)
        {
            var dir = HuggingFaceParityTests.TempDir();
            File.Copy(Path.Combine(Fixture, "config.json"), Path.Combine(dir, "config.json"));
            var tensors = new Dictionary<string, Tensor>(original);
            change(tensors);
            SafeTensorsFile.Save(Path.Combine(dir, "model.safetensors"), tensors);
            return Assert.Throws<MambaCheckpointException>(() => MambaForCausalLM.FromPretrained(dir));
        }

        var e = LoadWith(t => t.Remove("backbone.layers.1.mixer.dt_bias"));
        Assert.Contains("missing tensor 'backbone.layers.1.mixer.dt_bias' (the model expects shape (6))", e.Message);
        // in_proj: z (96) | xBC (96 + 2·2·16) | dt (6) = 262 rows.
        e = LoadWith(t => t["backbone.layers.0.mixer.in_proj.weight"] = zeros(256, 48));
        Assert.Contains("'backbone.layers.0.mixer.in_proj.weight' has shape (256, 48) in the checkpoint but the model expects (262, 48)", e.Message);
        e = LoadWith(t => t["backbone.layers.2.mixer.conv1d.weight"] = zeros(96, 1, 4));
        Assert.Contains("the model expects (160, 1, 4)", e.Message);
        e = LoadWith(t => t["backbone.layers.0.mixer.x_proj.weight"] = zeros(35, 96));   // a Mamba-1 tensor
        Assert.Contains("unexpected tensor 'backbone.layers.0.mixer.x_proj.weight'", e.Message);
    }

    [Fact]
    public void ClassifierTakesTheBackboneOfAMamba2Checkpoint()
    {
        var expected = Expected();
        using var lm = Load(Fixture);
        using var classifier = MambaForSequenceClassification.FromPretrained(Fixture, numLabels: 3);
        using var _ = no_grad();
        var ids = expected["input_ids"];
        TensorData.AssertClose(classifier.Backbone.forward(ids, null), lm.Backbone.forward(ids, null), 0, 1e-6, "backbone");
        var dir = HuggingFaceParityTests.TempDir();
        classifier.SavePretrained(dir);
        using var reloaded = MambaForSequenceClassification.FromPretrained(dir, numLabels: 3);
        Assert.Equal(MambaArchitecture.Mamba2, reloaded.Config.Architecture);
        TensorData.AssertClose(reloaded.forward(ids, null), classifier.forward(ids, null), 0, 1e-6, "reloaded classifier");
    }
}
