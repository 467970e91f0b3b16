using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

/// <summary>
/// Our loader and forward against Hugging Face transformers' MambaForCausalLM on a tiny random,
/// perturbed checkpoint (tests/fixtures/hf-tiny-mamba, made by tests/fixtures/tools/make_hf_fixture.py).
/// </summary>
public class HuggingFaceParityTests
{
    internal static readonly string Fixture = Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba");

    private static Dictionary<string, Tensor> Expected() =>
        SafeTensorsFile.Load(Path.Combine(Fixture, "expected.safetensors"));

    [Fact]
    public void LogitsMatchHuggingFace()
    {
        var expected = Expected();
        var model = MambaForCausalLM.FromPretrained(Fixture);
        model.eval();
        using var _ = no_grad();
        var logits = model.forward(expected["input_ids"], null);
        double maxError = (logits - expected["logits"]).abs().max().item<float>();
        Assert.True(maxError <= 1e-4, $"max abs logit error {maxError:E2} > 1e-4");
        TestContext.Current.SendDiagnosticMessage($"max abs logit error vs Hugging Face: {maxError:E2}");
    }

    [Fact]
    public void GreedyContinuationMatchesHuggingFace()
    {
        var expected = Expected();
        var model = MambaForCausalLM.FromPretrained(Fixture);
        model.eval();
        using var _ = no_grad();
        var prompt = expected["greedy_prompt"];
        var want = expected["greedy_output"][0].data<long>().ToArray();

        Assert.Equal(want, GreedyContinuation.WithCache(model, prompt, want.Length));
        Assert.Equal(want, GreedyContinuation.WithFullForward(model, prompt, want.Length));
    }

    [Fact]
    public void SaveThenLoadGivesTheSameLogits()
    {
        var expected = Expected();
        var model = MambaForCausalLM.FromPretrained(Fixture);
        var dir = TempDir();
        model.SavePretrained(dir);
        Assert.True(File.Exists(Path.Combine(dir, "config.json")));
        Assert.DoesNotContain("lm_head.weight", SafeTensorsFile.Load(Path.Combine(dir, "model.safetensors")).Keys); // tied, as HF writes it
        var reloaded = MambaForCausalLM.FromPretrained(dir);
        using var _ = no_grad();
        TensorData.AssertClose(reloaded.forward(expected["input_ids"], null), expected["logits"], 0, 1e-4, "reloaded logits");
    }

    [Fact]
    public void ShardedCheckpointLoads()
    {
        var expected = Expected();
        var dir = TempDir();
        File.Copy(Path.Combine(Fixture, "config.json"), Path.Combine(dir, "config.json"));
        var written = SafeTensorsDirectory.SaveSharded(dir, SafeTensorsFile.Load(Path.Combine(Fixture, "model.safetensors")), 64 * 1024);
        Assert.Contains(SafeTensorsDirectory.IndexFileName, written);
        var model = MambaForCausalLM.FromPretrained(dir);
        using var _ = no_grad();
        TensorData.AssertClose(model.forward(expected["input_ids"], null), expected["logits"], 0, 1e-4, "sharded logits");
    }

    [Fact]
    public void MambaSsmNamingLoads()
    {
        var expected = Expected();
        var dir = TempDir();
        var tensors = SafeTensorsFile.Load(Path.Combine(Fixture, "model.safetensors"));
        var embedding = tensors["backbone.embeddings.weight"];
        tensors.Remove("backbone.embeddings.weight");
        tensors["backbone.embedding.weight"] = embedding;
        tensors["lm_head.weight"] = embedding.clone(); // mamba_ssm's state_dict keeps the tied head
        SafeTensorsFile.Save(Path.Combine(dir, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(dir, "config.json"), """
            {"d_model": 48, "n_layer": 3, "vocab_size": 101, "pad_vocab_size_multiple": 1,
             "ssm_cfg": {"d_state": 16, "d_conv": 4, "expand": 2}, "residual_in_fp32": true, "tie_embeddings": true}
            """);
        var model = MambaForCausalLM.FromPretrained(dir);
        using var _ = no_grad();
        TensorData.AssertClose(model.forward(expected["input_ids"], null), expected["logits"], 0, 1e-4, "mamba_ssm-named logits");
    }

    [Fact]
    public void MismatchedCheckpointsNameTheTensorAndShapes()
    {
        var original = SafeTensorsFile.Load(Path.Combine(Fixture, "model.safetensors"));
        MambaCheckpointException LoadWith(Action<Dictionary<string, Tensor>> change)
        {
            var dir = TempDir();
            File.Copy(Path.Combine(Fixture, "config.json"), Path.Combine(dir, "config.json"));
            var tensors = new Dictionary<string, Tensor>(original);
            change(tensors);
            SafeTensorsFile.Save(Path.Combine(dir, "model.safetensors"), tensors);
            return Assert.Throws<MambaCheckpointException>(() => MambaForCausalLM.FromPretrained(dir));
        }

        var e = LoadWith(t => t.Remove("backbone.layers.1.mixer.D"));
        Assert.Contains("missing tensor 'backbone.layers.1.mixer.D'", e.Message);
        Assert.Contains("(96)", e.Message);

        e = LoadWith(t => t["backbone.layers.2.mixer.A_log"] = zeros(96, 8));
        Assert.Contains("'backbone.layers.2.mixer.A_log' has shape (96, 8) in the checkpoint but the model expects (96, 16)", e.Message);

        e = LoadWith(t => t["backbone.layers.9.mixer.D"] = zeros(96));
        Assert.Contains("unexpected tensor 'backbone.layers.9.mixer.D'", e.Message);
    }

    [Fact]
    public void CorruptOrMissingFilesAreReportedWithTheirPath()
    {
        var dir = TempDir();
        Assert.Throws<FileNotFoundException>(() => MambaForCausalLM.FromPretrained(dir)); // no config.json
        File.Copy(Path.Combine(Fixture, "config.json"), Path.Combine(dir, "config.json"));
        var weights = Path.Combine(dir, "model.safetensors");
        File.WriteAllBytes(weights, File.ReadAllBytes(Path.Combine(Fixture, "model.safetensors"))[..1000]);
        var e = Assert.ThrowsAny<Exception>(() => MambaForCausalLM.FromPretrained(dir));
        Assert.Contains(weights, e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => MambaForCausalLM.FromPretrained(Path.Combine(dir, "nope")));
    }

    [Fact]
    public void ClassifierTakesTheBackboneOfACausalCheckpoint()
    {
        var expected = Expected();
        var lm = MambaForCausalLM.FromPretrained(Fixture);
        var classifier = MambaForSequenceClassification.FromPretrained(Fixture, numLabels: 3);
        using var _ = no_grad();
        var ids = expected["input_ids"];
        TensorData.AssertClose(classifier.Backbone.forward(ids, null), lm.Backbone.forward(ids, null), 0, 1e-6, "backbone");

        var dir = TempDir();
        classifier.SavePretrained(dir);
        var reloaded = MambaForSequenceClassification.FromPretrained(dir, numLabels: 3);
        TensorData.AssertClose(reloaded.forward(ids, null), classifier.forward(ids, null), 0, 1e-6, "reloaded classifier");
    }

    [Fact]
    public void UntiedHeadRoundTrips()
    {
        manual_seed(2);
        var model = new MambaForCausalLM(Modeling.TinyConfigs.Tiny(tied: false));
        var dir = TempDir();
        model.SavePretrained(dir);
        Assert.Contains("lm_head.weight", SafeTensorsFile.Load(Path.Combine(dir, "model.safetensors")).Keys);
        var reloaded = MambaForCausalLM.FromPretrained(dir);
        var ids = randint(0, 37, new long[] { 2, 5 });
        using var _ = no_grad();
        TensorData.AssertClose(reloaded.forward(ids, null), model.forward(ids, null), 0, 1e-6, "untied logits");
    }

    internal static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mamba-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
