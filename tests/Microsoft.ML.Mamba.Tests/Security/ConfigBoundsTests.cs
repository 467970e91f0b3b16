using System.Text;
using System.Text.Json;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>A few bytes of config must not describe an absurd or overflowing model, nor crash the parser.</summary>
public class ConfigBoundsTests
{
    [Theory]
    [InlineData("""{"expand": 5, "hidden_size": 1000000000}""", "hidden_size")]
    [InlineData("""{"hidden_size": 65536, "expand": 16}""", "intermediate_size")]
    [InlineData("""{"hidden_size": 2147483647}""", "hidden_size")]
    [InlineData("""{"vocab_size": 100000000}""", "vocab_size")]
    [InlineData("""{"num_hidden_layers": 1000000}""", "num_hidden_layers")]
    [InlineData("""{"state_size": 100000}""", "state_size")]
    [InlineData("""{"conv_kernel": 100000}""", "conv_kernel")]
    [InlineData("""{"expand": 100}""", "expand")]
    [InlineData("""{"intermediate_size": -4}""", "intermediate_size")]
    [InlineData("""{"time_step_rank": 100000}""", "time_step_rank")]
    [InlineData("""{"time_step_rank": -134217727}""", "time_step_rank")]
    [InlineData("""{"time_step_rank": 1e30}""", "time_step_rank")]
    [InlineData("""{"layer_norm_epsilon": -1}""", "layer_norm_epsilon")]
    public void OversizedOrOverflowingSizesAreRefusedNamingTheField(string json, string field)
    {
        var error = Assert.ThrowsAny<Exception>(() => MambaConfig.FromJson(json));
        Assert.True(error is ArgumentException or JsonException, error.ToString());
        Assert.Contains(field, error.Message);
    }

    [Theory]
    [InlineData("""{"d_model": 16, "vocab_size": 10}""", "n_layer")]
    [InlineData("""{"d_model": 16, "n_layer": 2}""", "vocab_size")]
    [InlineData("""{"d_model": 16, "n_layer": 2, "vocab_size": 10, "pad_vocab_size_multiple": 0}""", "pad_vocab_size_multiple")]
    [InlineData("""{"d_model": 16, "n_layer": "2", "vocab_size": 10}""", "n_layer")]
    [InlineData("""{"d_model": 16, "n_layer": 2, "vocab_size": 10, "ssm_cfg": 5}""", "ssm_cfg")]
    [InlineData("""{"d_model": 16, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"d_state": "x"}}""", "d_state")]
    [InlineData("""{"d_model": 16, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": 2}}""", "layer")]
    [InlineData("""{"d_model": 16, "n_layer": 2, "vocab_size": 10, "tie_embeddings": 1}""", "tie_embeddings")]
    [InlineData("""{"d_model": 16, "n_layer": 2, "vocab_size": 2147483647}""", "vocab_size")]
    public void BrokenMambaSsmConfigsAreInvalidDataNamingTheField(string json, string field)
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("config.json"), json);
        var error = Assert.Throws<InvalidDataException>(() => MambaConfig.Load(directory.File("config.json")));
        Assert.Contains(field, error.Message);
        Assert.Contains("config.json", error.Message);
    }

    [Theory]
    [InlineData("""{"hidden_size": "big"}""")]
    [InlineData("""{"num_hidden_layers": 3.5}""")]
    [InlineData("""[1, 2]""")]
    [InlineData("""null""")]
    [InlineData("""{"vocab_size": 99999999999}""")]
    [InlineData("""{"a": 1, "a": 2}""")]
    public void WrongTypesAreInvalidData(string json)
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("config.json"), json);
        Assert.Throws<InvalidDataException>(() => MambaConfig.Load(directory.File("config.json")));
    }

    [Fact]
    public void TheLargestSizesStillValidate()
    {
        var config = new MambaConfig { VocabSize = MambaConfig.MaxVocabSize, HiddenSize = MambaConfig.MaxHiddenSize, Expand = 4, NumHiddenLayers = MambaConfig.MaxLayers, StateSize = 256 };
        config.Validate();
        Assert.Equal(MambaConfig.MaxInnerSize, config.InnerSize);
        Assert.Equal(4096, config.DtRank);
        Assert.Equal(Encoding.UTF8.GetByteCount(config.ToJson()), Encoding.UTF8.GetByteCount(MambaConfig.FromJson(config.ToJson()).ToJson()));
    }
}

/// <summary>A config.json padded to megabytes is refused before it is read.</summary>
public class ConfigFileSizeTests
{
    [Fact]
    public void AnOversizedConfigFileIsRefusedUnread()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("config.json"), "{" + new string(' ', MambaConfig.MaxFileBytes) + "}");
        Assert.Contains("limit", Assert.Throws<InvalidDataException>(() => MambaConfig.Load(directory.File("config.json"))).Message);
        Assert.Contains("limit", Assert.Throws<InvalidDataException>(() => MambaForCausalLM.FromPretrained(directory.Path)).Message);
    }
}
