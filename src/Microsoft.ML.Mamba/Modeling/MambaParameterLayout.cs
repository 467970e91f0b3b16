namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The parameter names and shapes our modules get from a config, computed without building them, so a
/// checkpoint's header can be checked against the config before any model memory is allocated.
/// Must stay in step with <see cref="MambaModel"/>, <see cref="MambaMixer"/>, <see cref="Mamba2Mixer"/> and the heads
/// (a test compares them). Sizes are longs computed from a validated config, so none overflows.
/// </summary>
internal static class MambaParameterLayout
{
    /// <summary>The backbone's parameters, in module order.</summary>
    public static List<(string Name, long[] Shape)> Backbone(MambaConfig config)
    {
        long vocab = config.VocabSize, hidden = config.HiddenSize, inner = config.InnerSize, state = config.StateSize;
        long rank = config.DtRank, kernel = config.ConvKernel, gate = config.Ungated ? 1 : 2;
        var result = new List<(string, long[])> { ("backbone.embeddings.weight", [vocab, hidden]) };
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"backbone.layers.{i}.";
            result.Add((p + "norm.weight", [hidden]));
            if (config.Architecture == MambaArchitecture.Mamba2)
            {
                Mamba2Mixer(config, p + "mixer.", result);
                continue;
            }
            result.Add((p + "mixer.in_proj.weight", [gate * inner, hidden]));
            if (config.UseBias) result.Add((p + "mixer.in_proj.bias", [gate * inner]));
            result.Add((p + "mixer.conv1d.weight", [inner, 1, kernel]));
            if (config.UseConvBias) result.Add((p + "mixer.conv1d.bias", [inner]));
            if (config.TimeInvariantSsm)
            {
                result.Add((p + "mixer.B_lti", [inner, state]));
                result.Add((p + "mixer.C_lti", [inner, state]));
            }
            else result.Add((p + "mixer.x_proj.weight", [rank + 2 * state, inner]));
            result.Add((p + "mixer.dt_proj.weight", [inner, rank]));
            result.Add((p + "mixer.dt_proj.bias", [inner]));
            result.Add((p + "mixer.out_proj.weight", [hidden, inner]));
            if (config.UseBias) result.Add((p + "mixer.out_proj.bias", [hidden]));
            result.Add((p + "mixer.A_log", [inner, state]));
            result.Add((p + "mixer.D", [inner]));
        }
        result.Add(("backbone.norm_f.weight", [hidden]));
        return result;
    }

    // Hugging Face's Mamba2Mixer: in_proj to z | xBC | dt, the conv over xBC, per-head dt_bias, A_log and D, the gated norm.
    private static void Mamba2Mixer(MambaConfig config, string p, List<(string, long[])> result)
    {
        long hidden = config.HiddenSize, inner = config.InnerSize, heads = config.Heads, kernel = config.ConvKernel;
        long convDim = inner + 2L * config.NGroups * config.StateSize;
        result.Add((p + "in_proj.weight", [inner + convDim + heads, hidden]));
        if (config.UseBias) result.Add((p + "in_proj.bias", [inner + convDim + heads]));
        result.Add((p + "conv1d.weight", [convDim, 1, kernel]));
        if (config.UseConvBias) result.Add((p + "conv1d.bias", [convDim]));
        result.Add((p + "dt_bias", [heads]));
        result.Add((p + "A_log", [heads]));
        result.Add((p + "D", [heads]));
        result.Add((p + "norm.weight", [inner]));
        result.Add((p + "out_proj.weight", [hidden, inner]));
        if (config.UseBias) result.Add((p + "out_proj.bias", [hidden]));
    }

    /// <summary>The parameters of <see cref="MambaForCausalLM"/>.</summary>
    public static List<(string Name, long[] Shape)> CausalLM(MambaConfig config)
    {
        var result = Backbone(config);
        if (!config.TieWordEmbeddings) result.Add(("lm_head.weight", [config.VocabSize, config.HiddenSize]));
        return result;
    }

    /// <summary>The parameters of <see cref="MambaForSequenceClassification"/>.</summary>
    public static List<(string Name, long[] Shape)> SequenceClassification(MambaConfig config, int numLabels)
    {
        var result = Backbone(config);
        result.Add(("score.weight", [numLabels, config.HiddenSize]));
        result.Add(("score.bias", [numLabels]));
        return result;
    }
}
