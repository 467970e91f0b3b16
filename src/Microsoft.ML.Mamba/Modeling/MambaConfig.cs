using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// Hyper-parameters of a Mamba model, with the field names of Hugging Face's <c>MambaConfig</c> so a
/// checkpoint's <c>config.json</c> reads and writes as it is. The original mamba_ssm form
/// (<c>d_model</c>, <c>n_layer</c>, <c>ssm_cfg</c>, <c>pad_vocab_size_multiple</c>) is read too.
/// </summary>
public sealed class MambaConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "mamba";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 50280;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; } = 768;
    [JsonPropertyName("state_size")] public int StateSize { get; set; } = 16;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; } = 24;
    [JsonPropertyName("expand")] public int Expand { get; set; } = 2;
    [JsonPropertyName("conv_kernel")] public int ConvKernel { get; set; } = 4;

    /// <summary>Width of the inner (expanded) stream; 0 means <see cref="Expand"/> × <see cref="HiddenSize"/>.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; }

    /// <summary>Rank of the Δ projection; 0 means "auto" = ceil(hidden_size / 16).</summary>
    [JsonPropertyName("time_step_rank")][JsonConverter(typeof(AutoIntConverter))]
    public int TimeStepRank { get; set; }

    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; set; } = 1e-5;
    [JsonPropertyName("use_bias")] public bool UseBias { get; set; }
    [JsonPropertyName("use_conv_bias")] public bool UseConvBias { get; set; } = true;
    [JsonPropertyName("residual_in_fp32")] public bool ResidualInFp32 { get; set; } = true;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; set; } = true;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; set; } = 0;
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; set; } = 0;
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; set; } = 0;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "silu";
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; set; } = 0.02;
    [JsonPropertyName("time_step_min")] public double TimeStepMin { get; set; } = 0.001;
    [JsonPropertyName("time_step_max")] public double TimeStepMax { get; set; } = 0.1;
    [JsonPropertyName("time_step_floor")] public double TimeStepFloor { get; set; } = 1e-4;
    [JsonPropertyName("time_step_scale")] public double TimeStepScale { get; set; } = 1.0;
    [JsonPropertyName("time_step_init_scheme")] public string TimeStepInitScheme { get; set; } = "random";
    [JsonPropertyName("rescale_prenorm_residual")] public bool RescalePrenormResidual { get; set; } = true;

    /// <summary>
    /// Ablation (not a Hugging Face field): Δ, B and C become learned constants instead of functions of
    /// the input, i.e. a time-invariant, S4D-like SSM. Written to config.json only when set.
    /// </summary>
    [JsonPropertyName("time_invariant_ssm")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TimeInvariantSsm { get; set; }

    /// <summary>Ablation (not a Hugging Face field): drop the SiLU(z) gate. Written only when set.</summary>
    [JsonPropertyName("ungated")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Ungated { get; set; }

    /// <summary>Fields this class does not model, kept so a round trip loses nothing.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>The inner width actually used.</summary>
    [JsonIgnore] public int InnerSize => IntermediateSize > 0 ? IntermediateSize : Expand * HiddenSize;

    /// <summary>The Δ rank actually used.</summary>
    [JsonIgnore] public int DtRank => TimeStepRank > 0 ? TimeStepRank : (HiddenSize + 15) / 16;

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>Parses a config.json text (Hugging Face or original mamba_ssm form).</summary>
    public static MambaConfig FromJson(string json)
    {
        var node = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("config.json is not a JSON object");
        if (node.ContainsKey("d_model") && !node.ContainsKey("hidden_size"))
            node = FromMambaSsmForm(node);
        var config = node.Deserialize<MambaConfig>(s_json) ?? throw new JsonException("config.json is empty");
        config.Validate();
        return config;
    }

    /// <summary>Reads a config.json file; errors name the file.</summary>
    public static MambaConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Mamba config file not found: {path}", path);
        try { return FromJson(File.ReadAllText(path)); }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"Invalid Mamba config '{path}': {e.Message}", e);
        }
    }

    public string ToJson()
    {
        var node = JsonSerializer.SerializeToNode(this, s_json)!.AsObject();
        node["intermediate_size"] = InnerSize;
        node["time_step_rank"] = DtRank;
        if (!node.ContainsKey("architectures")) node["architectures"] = new JsonArray("MambaForCausalLM");
        return node.ToJsonString(s_json);
    }

    public void Save(string path) => File.WriteAllText(path, ToJson());

    public MambaConfig Clone() => FromJson(ToJson());

    /// <summary>Checks that the sizes make a model; throws <see cref="ArgumentException"/> naming the field.</summary>
    public void Validate()
    {
        void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}");
        }
        Positive(VocabSize, "vocab_size"); Positive(HiddenSize, "hidden_size"); Positive(StateSize, "state_size");
        Positive(NumHiddenLayers, "num_hidden_layers"); Positive(ConvKernel, "conv_kernel"); Positive(InnerSize, "intermediate_size");
        if (StateSize > 256) throw new ArgumentException($"state_size must be at most 256, got {StateSize}");
        if (HiddenAct != "silu") throw new ArgumentException($"hidden_act '{HiddenAct}' is not supported (only silu)");
    }

    // mamba_ssm's own config: d_model, n_layer, vocab_size padded to pad_vocab_size_multiple, ssm_cfg.
    private static JsonObject FromMambaSsmForm(JsonObject src)
    {
        int vocab = src["vocab_size"]!.GetValue<int>();
        int multiple = src["pad_vocab_size_multiple"]?.GetValue<int>() ?? 8;
        if (vocab % multiple != 0) vocab += multiple - vocab % multiple;
        var ssm = src["ssm_cfg"] as JsonObject ?? new JsonObject();
        if (ssm["layer"] is JsonValue layer && layer.GetValue<string>() != "Mamba1")
            throw new JsonException($"ssm_cfg.layer '{layer}' is not supported (only Mamba1)");
        var dst = new JsonObject
        {
            ["hidden_size"] = src["d_model"]!.GetValue<int>(),
            ["num_hidden_layers"] = src["n_layer"]!.GetValue<int>(),
            ["vocab_size"] = vocab,
            ["residual_in_fp32"] = src["residual_in_fp32"]?.GetValue<bool>() ?? true,
            ["tie_word_embeddings"] = src["tie_embeddings"]?.GetValue<bool>() ?? true,
            ["state_size"] = ssm["d_state"]?.GetValue<int>() ?? 16,
            ["conv_kernel"] = ssm["d_conv"]?.GetValue<int>() ?? 4,
            ["expand"] = ssm["expand"]?.GetValue<int>() ?? 2,
        };
        if (ssm["dt_rank"] is JsonValue rank && rank.TryGetValue<int>(out int r)) dst["time_step_rank"] = r;
        return dst;
    }

    /// <summary>Reads "auto" (or null) as 0 and numbers as themselves.</summary>
    private sealed class AutoIntConverter : JsonConverter<int>
    {
        public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : 0;

        public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options)
        {
            if (value > 0) writer.WriteNumberValue(value); else writer.WriteStringValue("auto");
        }
    }
}
