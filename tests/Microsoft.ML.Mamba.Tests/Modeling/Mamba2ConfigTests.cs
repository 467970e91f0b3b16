using System.Text.Json;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.Modeling;

/// <summary>Mamba-2 configs: Hugging Face's Mamba2Config and mamba_ssm's form, round trips, and hostile values.</summary>
public class Mamba2ConfigTests
{
    [Fact]
    public void ReadsTheFixturesHuggingFaceConfig()
    {
        var config = MambaConfig.Load(Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba2", "config.json"));
        Assert.Equal(MambaArchitecture.Mamba2, config.Architecture);
        Assert.Equal((48, 96, 6, 16, 2, 16, 8), (config.HiddenSize, config.InnerSize, config.Heads, config.HeadDim, config.NGroups, config.StateSize, config.ChunkSize));
        Assert.Equal(new[] { 0.0, double.PositiveInfinity }, config.TimeStepLimit);
        Assert.False(config.RescalePrenormResidual);
        Assert.True(config.TieWordEmbeddings);
    }

    [Theory]
    [InlineData("""[0.0, Infinity]""")]                       // Python's json before transformers 5
    [InlineData("""[0.0, {"__float__": "Infinity"}]""")]      // transformers 5
    [InlineData("""[0.0, "Infinity"]""")]
    [InlineData("""[0, 1.7976931348623157e308]""")]           // what ToJson writes for a finite min with no max
    public void AnInfiniteTimeStepLimitReadsInEveryForm(string limit)
    {
        var config = MambaConfig.FromJson($$"""{"model_type": "mamba2", "hidden_size": 16, "num_heads": 2, "head_dim": 16, "n_groups": 1, "vocab_size": 10, "num_hidden_layers": 1, "time_step_limit": {{limit}}, "note": "Infinity and NaN in a string stay"}""");
        Assert.Equal(0.0, config.TimeStepLimit[0]);
        Assert.True(config.TimeStepLimit[1] >= double.MaxValue);
        Assert.Equal("Infinity and NaN in a string stay", config.Extra!["note"].GetString());
    }

    [Fact]
    public void MissingFieldsTakeMamba2ConfigsDefaults()
    {
        var config = MambaConfig.FromJson("""{"model_type": "mamba2"}""");
        Assert.Equal((4096, 128, 64, 8, 128, 256, 64), (config.HiddenSize, config.Heads, config.HeadDim, config.NGroups, config.StateSize, config.ChunkSize, config.NumHiddenLayers));
        Assert.False(config.TieWordEmbeddings);
        Assert.Equal(0.1, config.InitializerRange);
    }

    [Fact]
    public void HuggingFaceFormRoundTrips()
    {
        var config = TinyConfigs.TinyMamba2();
        config.TimeStepLimit = [0.01, double.PositiveInfinity];
        var json = config.ToJson();
        Assert.Contains("\"num_heads\": 8", json);
        Assert.DoesNotContain("intermediate_size", json);
        Assert.DoesNotContain("Infinity", json);   // strict JSON: the infinite bound is written as the largest double
        var again = MambaConfig.FromJson(json);
        Assert.Equal(json, again.ToJson());
        Assert.Equal(MambaArchitecture.Mamba2, again.Architecture);
        Assert.Equal(new[] { 0.01, double.MaxValue }, again.TimeStepLimit);

        // The default limit is not written at all (Hugging Face's default is the same), and Mamba-1 writes no Mamba-2 field.
        Assert.DoesNotContain("time_step_limit", TinyConfigs.TinyMamba2().ToJson());
        var mamba1 = TinyConfigs.Tiny().ToJson();
        foreach (var key in new[] { "num_heads", "head_dim", "n_groups", "chunk_size", "time_step_limit", "norm_per_group" })
            Assert.DoesNotContain($"\"{key}\"", mamba1);
        Assert.Equal(MambaArchitecture.Mamba1, MambaConfig.FromJson(mamba1).Architecture);
    }

    [Fact]
    public void MambaSsmFormReadsAsMamba2AndRoundTripsThroughTheHuggingFaceForm()
    {
        var config = MambaConfig.FromJson("""
            {"d_model": 64, "d_intermediate": 0, "n_layer": 2, "vocab_size": 50277, "pad_vocab_size_multiple": 16,
             "ssm_cfg": {"layer": "Mamba2", "headdim": 32, "ngroups": 2, "d_state": 64, "chunk_size": 128, "dt_limit": [0.0, Infinity]},
             "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": true, "residual_in_fp32": true, "fused_add_norm": true, "tie_embeddings": true}
            """);
        Assert.Equal(MambaArchitecture.Mamba2, config.Architecture);
        Assert.Equal((64, 4, 32, 2, 64, 128, 50288), (config.HiddenSize, config.Heads, config.HeadDim, config.NGroups, config.StateSize, config.ChunkSize, config.VocabSize));
        Assert.True(config.NormPerGroup);
        var again = MambaConfig.FromJson(config.ToJson());
        Assert.Equal(config.ToJson(), again.ToJson());
        Assert.True(again.NormPerGroup);

        // mamba_ssm's Mamba2 defaults: state 128, head_dim 64, one group (so no per-group norm), chunk 256.
        var defaults = MambaConfig.FromJson("""{"d_model": 128, "n_layer": 1, "vocab_size": 8, "ssm_cfg": {"layer": "Mamba2"}}""");
        Assert.Equal((128, 64, 4, 1, 256), (defaults.StateSize, defaults.HeadDim, defaults.Heads, defaults.NGroups, defaults.ChunkSize));
        Assert.False(defaults.NormPerGroup);
    }

    private const string Base = """ "model_type": "mamba2", "vocab_size": 10, "num_hidden_layers": 1, "hidden_size": 16, "head_dim": 8, "num_heads": 4, "n_groups": 2 """;

    [Theory]
    [InlineData(""" "head_dim": 100000 """, "head_dim")]
    [InlineData(""" "head_dim": 0 """, "head_dim")]
    [InlineData(""" "num_heads": 5 """, "num_heads")]
    [InlineData(""" "num_heads": -1 """, "num_heads")]
    [InlineData(""" "num_heads": 2147483647, "head_dim": 2 """, "num_heads")]
    [InlineData(""" "n_groups": 3 """, "n_groups")]
    [InlineData(""" "n_groups": 0 """, "n_groups")]
    [InlineData(""" "n_groups": 8 """, "n_groups")]
    [InlineData(""" "chunk_size": 0 """, "chunk_size")]
    [InlineData(""" "chunk_size": 1000000 """, "chunk_size")]
    [InlineData(""" "time_step_limit": [0.5, 0.1] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": [-1, 1] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": [NaN, 1] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": [Infinity, Infinity] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": [0, 1, 2] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": [0, "big"] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": [0, {"__float__": 1}] """, "time_step_limit")]
    [InlineData(""" "time_step_limit": 3 """, "time_step_limit")]
    [InlineData(""" "intermediate_size": 48 """, "intermediate_size")]
    [InlineData(""" "ungated": true """, "ungated")]
    [InlineData(""" "expand": 100000 """, "expand")]
    public void HostileMamba2FieldsAreRefusedNamingTheField(string field, string name)
    {
        var error = Assert.ThrowsAny<Exception>(() => MambaConfig.FromJson("{" + Base + "," + field + "}"));
        Assert.True(error is ArgumentException or JsonException, error.ToString());
        Assert.Contains(name, error.Message);
    }

    [Theory]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba3"} """, "layer")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2", "headdim": "x"} """, "headdim")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2", "ngroups": 3} """, "n_groups")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2", "d_ssm": 32} """, "d_ssm")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2", "norm_before_gate": true} """, "norm_before_gate")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2", "rmsnorm": false} """, "rmsnorm")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2", "D_has_hdim": true} """, "D_has_hdim")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2"}, "d_intermediate": 128 """, "d_intermediate")]
    [InlineData(""" "ssm_cfg": {"layer": "Mamba2"}, "attn_layer_idx": [1] """, "attn_layer_idx")]
    [InlineData(""" "ssm_cfg": {}, "rms_norm": false """, "rms_norm")]   // Mamba-1 with LayerNorm blocks: was read as RMSNorm
    public void UnsupportedMambaSsmVariantsAreRefusedNamingTheField(string fields, string name)
    {
        var error = Assert.ThrowsAny<Exception>(() => MambaConfig.FromJson("""{"d_model": 128, "n_layer": 1, "vocab_size": 8, """ + fields + "}"));
        Assert.True(error is ArgumentException or JsonException, error.ToString());
        Assert.Contains(name, error.Message);
    }
}
