using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.Modeling;

public class MambaConfigTests
{
    [Fact]
    public void ReadsHuggingFaceConfigOfTheFixture()
    {
        var config = MambaConfig.Load(Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba", "config.json"));
        Assert.Equal(101, config.VocabSize);
        Assert.Equal(48, config.HiddenSize);
        Assert.Equal(96, config.InnerSize);
        Assert.Equal(3, config.DtRank);
        Assert.Equal(3, config.NumHiddenLayers);
        Assert.True(config.TieWordEmbeddings);
        Assert.True(config.Extra!.ContainsKey("transformers_version")); // unknown fields survive
    }

    [Fact]
    public void AutoRankIsCeilingOfHiddenOver16AndRoundTrips()
    {
        var config = MambaConfig.FromJson("""{"hidden_size": 40, "time_step_rank": "auto", "vocab_size": 10, "num_hidden_layers": 1, "custom": [1,2]}""");
        Assert.Equal(3, config.DtRank);
        Assert.Equal(80, config.InnerSize);
        var again = MambaConfig.FromJson(config.ToJson());
        Assert.Equal(3, again.TimeStepRank);
        Assert.Equal("[1,2]", again.Extra!["custom"].GetRawText().Replace(" ", "").Replace("\n", "").Replace("\r", ""));
    }

    [Fact]
    public void ReadsTheOriginalMambaSsmForm()
    {
        var config = MambaConfig.FromJson("""
            {"d_model": 768, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {}, "rms_norm": true,
             "residual_in_fp32": true, "fused_add_norm": true, "pad_vocab_size_multiple": 8}
            """);
        Assert.Equal(768, config.HiddenSize);
        Assert.Equal(24, config.NumHiddenLayers);
        Assert.Equal(50280, config.VocabSize); // padded to a multiple of 8 as mamba_ssm does
        Assert.Equal(16, config.StateSize);
        Assert.Equal(48, config.DtRank);
    }

    [Fact]
    public void InvalidConfigNamesTheFileAndField()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bad-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"hidden_size": 0, "vocab_size": 10}""");
        var e = Assert.Throws<InvalidDataException>(() => MambaConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("hidden_size", e.Message);
        File.WriteAllText(path, "{ not json");
        e = Assert.Throws<InvalidDataException>(() => MambaConfig.Load(path));
        Assert.Contains(path, e.Message);
        File.Delete(path);
    }
}
