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
    /// <summary>The Hugging Face model type, <c>"mamba"</c>.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "mamba";
    /// <summary>Rows of the embedding table: token ids run from 0 to <c>VocabSize - 1</c>. Default 50280.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 50280;
    /// <summary>Width of the residual stream (mamba_ssm's <c>d_model</c>). Default 768.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; } = 768;
    /// <summary>SSM state size per inner channel (<c>d_state</c>). Default 16.</summary>
    [JsonPropertyName("state_size")] public int StateSize { get; set; } = 16;
    /// <summary>Number of blocks (<c>n_layer</c>). Default 24.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; } = 24;
    /// <summary>Inner width as a multiple of <see cref="HiddenSize"/> when <see cref="IntermediateSize"/> is 0. Default 2.</summary>
    [JsonPropertyName("expand")] public int Expand { get; set; } = 2;
    /// <summary>Width of the causal depthwise convolution (<c>d_conv</c>). Default 4.</summary>
    [JsonPropertyName("conv_kernel")] public int ConvKernel { get; set; } = 4;

    /// <summary>Width of the inner (expanded) stream; 0 means <see cref="Expand"/> × <see cref="HiddenSize"/>.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; }

    /// <summary>Rank of the Δ projection; 0 means "auto" = ceil(hidden_size / 16).</summary>
    [JsonPropertyName("time_step_rank")][JsonConverter(typeof(AutoIntConverter))]
    public int TimeStepRank { get; set; }

    /// <summary>Epsilon of the RMS norms. Default 1e-5.</summary>
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; set; } = 1e-5;
    /// <summary>Biases on <c>in_proj</c> and <c>out_proj</c>. Default false.</summary>
    [JsonPropertyName("use_bias")] public bool UseBias { get; set; }
    /// <summary>A bias on the convolution. Default true.</summary>
    [JsonPropertyName("use_conv_bias")] public bool UseConvBias { get; set; } = true;
    /// <summary>Keep the residual stream in fp32 whatever the weights' dtype. Default true.</summary>
    [JsonPropertyName("residual_in_fp32")] public bool ResidualInFp32 { get; set; } = true;
    /// <summary>The language-model head shares the embedding matrix. Default true.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; set; } = true;
    /// <summary>The padding token id the checkpoint records, or null.</summary>
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; set; } = 0;
    /// <summary>The beginning-of-sequence token id the checkpoint records, or null.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; set; } = 0;
    /// <summary>The end-of-sequence token id the checkpoint records, or null.</summary>
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; set; } = 0;
    /// <summary>The activation; only <c>"silu"</c> is supported.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "silu";
    /// <summary>Standard deviation of the normal initialisation of new embeddings and heads. Default 0.02.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; set; } = 0.02;
    /// <summary>Smallest initial Δ: Δ starts log-uniform in [<see cref="TimeStepMin"/>, <see cref="TimeStepMax"/>]. Default 0.001.</summary>
    [JsonPropertyName("time_step_min")] public double TimeStepMin { get; set; } = 0.001;
    /// <summary>Largest initial Δ. Default 0.1.</summary>
    [JsonPropertyName("time_step_max")] public double TimeStepMax { get; set; } = 0.1;
    /// <summary>Initial Δ values below this are raised to it. Default 1e-4.</summary>
    [JsonPropertyName("time_step_floor")] public double TimeStepFloor { get; set; } = 1e-4;
    /// <summary>Scale of the Δ projection's initial weights. Default 1.</summary>
    [JsonPropertyName("time_step_scale")] public double TimeStepScale { get; set; } = 1.0;
    /// <summary>How the Δ projection's weights start: <c>"random"</c> (uniform) or <c>"constant"</c>. Default "random".</summary>
    [JsonPropertyName("time_step_init_scheme")] public string TimeStepInitScheme { get; set; } = "random";
    /// <summary>Divide <c>out_proj</c>'s initial weights by √(layers), as GPT-2 does for residual branches. Default true.</summary>
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
    /// <remarks>Checked: sizes that overflow throw <see cref="OverflowException"/> (<see cref="Validate"/> rejects them first).</remarks>
    [JsonIgnore] public int InnerSize => IntermediateSize > 0 ? IntermediateSize : checked(Expand * HiddenSize);

    /// <summary>The Δ rank actually used.</summary>
    [JsonIgnore] public int DtRank => TimeStepRank > 0 ? TimeStepRank : (int)((HiddenSize + 15L) / 16);

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

    /// <summary>Largest config.json read (real ones are about a kilobyte).</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>Reads a config.json file; errors name the file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not valid JSON or not a valid Mamba config; the message names the file and field.</exception>
    public static MambaConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Mamba config file not found: {path}", path);
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new InvalidDataException($"Invalid Mamba config '{path}': {length} bytes, more than the {MaxFileBytes}-byte limit.");
        return FromBytes(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config.json bytes; <paramref name="source"/> names them in the <see cref="InvalidDataException"/> thrown for bad input.</summary>
    internal static MambaConfig FromBytes(byte[] bytes, string source)
    {
        try { return FromJson(System.Text.Encoding.UTF8.GetString(bytes)); }
        catch (Exception e) when (e is JsonException or ArgumentException or FormatException or InvalidOperationException or OverflowException)
        {
            // InvalidOperationException and FormatException: a JSON value of the wrong kind (a string where a number belongs).
            throw new InvalidDataException($"Invalid Mamba config '{source}': {e.Message}", e);
        }
    }

    /// <summary>The config as Hugging Face config.json text, with <c>intermediate_size</c> and <c>time_step_rank</c> written out.</summary>
    public string ToJson()
    {
        var node = JsonSerializer.SerializeToNode(this, s_json)!.AsObject();
        node["intermediate_size"] = InnerSize;
        node["time_step_rank"] = DtRank;
        if (!node.ContainsKey("architectures")) node["architectures"] = new JsonArray("MambaForCausalLM");
        return node.ToJsonString(s_json);
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/>.</summary>
    public void Save(string path) => File.WriteAllText(path, ToJson());

    /// <summary>A copy that can be changed without touching this one.</summary>
    public MambaConfig Clone() => FromJson(ToJson());

    /// <summary>Largest vocab_size accepted (2^24): far above any released tokenizer, small enough to refuse absurd sizes.</summary>
    public const int MaxVocabSize = 1 << 24;
    /// <summary>Largest hidden_size accepted.</summary>
    public const int MaxHiddenSize = 1 << 16;
    /// <summary>Largest intermediate (inner) width accepted, however it is given.</summary>
    public const int MaxInnerSize = 1 << 18;
    /// <summary>Largest num_hidden_layers accepted.</summary>
    public const int MaxLayers = 1024;
    /// <summary>Largest expand accepted.</summary>
    public const int MaxExpand = 16;
    /// <summary>Largest state_size accepted (the kernels' limit).</summary>
    public const int MaxStateSize = 256;
    /// <summary>Largest conv_kernel accepted.</summary>
    public const int MaxConvKernel = 64;

    /// <summary>
    /// Checks that the sizes make a model: each is positive and at most its documented bound
    /// (<see cref="MaxVocabSize"/>, <see cref="MaxHiddenSize"/>, <see cref="MaxInnerSize"/>, <see cref="MaxLayers"/>,
    /// <see cref="MaxExpand"/>, <see cref="MaxStateSize"/>, <see cref="MaxConvKernel"/>; the Δ rank at most the inner width),
    /// with derived sizes computed without overflow. Throws <see cref="ArgumentException"/> naming the field.
    /// </summary>
    public void Validate()
    {
        static void InRange(long value, long max, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}");
            if (value > max) throw new ArgumentException($"{name} must be at most {max}, got {value}");
        }
        InRange(VocabSize, MaxVocabSize, "vocab_size"); InRange(HiddenSize, MaxHiddenSize, "hidden_size");
        InRange(StateSize, MaxStateSize, "state_size"); InRange(NumHiddenLayers, MaxLayers, "num_hidden_layers");
        InRange(ConvKernel, MaxConvKernel, "conv_kernel");
        if (IntermediateSize < 0) throw new ArgumentException($"intermediate_size must not be negative, got {IntermediateSize}");
        if (IntermediateSize == 0) InRange(Expand, MaxExpand, "expand");
        long inner = IntermediateSize > 0 ? IntermediateSize : (long)Expand * HiddenSize;
        InRange(inner, MaxInnerSize, IntermediateSize > 0 ? "intermediate_size" : "intermediate_size (expand × hidden_size)");
        if (TimeStepRank < 0) throw new ArgumentException($"time_step_rank must be positive or \"auto\", got {TimeStepRank}");
        InRange(DtRank, inner, "time_step_rank");
        if (!double.IsFinite(LayerNormEpsilon) || LayerNormEpsilon < 0)
            throw new ArgumentException($"layer_norm_epsilon must be a finite non-negative number, got {LayerNormEpsilon}");
        // Initialisation settings: the model is initialised before a checkpoint overwrites it, so they must be usable too.
        static void Finite(double value, double min, string name)
        {
            if (!double.IsFinite(value) || value < min) throw new ArgumentException($"{name} must be a finite number of at least {min}, got {value}");
        }
        Finite(InitializerRange, 0, "initializer_range"); Finite(TimeStepScale, 0, "time_step_scale");
        Finite(TimeStepFloor, 0, "time_step_floor"); Finite(TimeStepMin, double.Epsilon, "time_step_min");
        Finite(TimeStepMax, TimeStepMin, "time_step_max");
        if (TimeStepInitScheme is not ("random" or "constant"))
            throw new ArgumentException($"time_step_init_scheme '{TimeStepInitScheme}' is not supported (random or constant)");
        if (HiddenAct != "silu") throw new ArgumentException($"hidden_act '{HiddenAct}' is not supported (only silu)");
    }

    // mamba_ssm's own config: d_model, n_layer, vocab_size padded to pad_vocab_size_multiple, ssm_cfg.
    private static JsonObject FromMambaSsmForm(JsonObject src)
    {
        // Every field is read with its type checked, so a missing or wrong-typed one is named, never a NullReferenceException.
        int vocab = Int(src, "vocab_size") ?? throw new JsonException("the mamba_ssm config has no integer 'vocab_size'");
        int multiple = Int(src, "pad_vocab_size_multiple") ?? 8;
        if (multiple <= 0) throw new JsonException($"pad_vocab_size_multiple must be positive, got {multiple}");
        if (vocab <= 0) throw new JsonException($"vocab_size must be positive, got {vocab}");
        long padded = vocab % multiple == 0 ? vocab : vocab + (long)(multiple - vocab % multiple);
        if (padded > MaxVocabSize) throw new JsonException($"vocab_size padded to a multiple of {multiple} is {padded}, more than {MaxVocabSize}");
        var ssm = src["ssm_cfg"] switch
        {
            null => new JsonObject(),
            JsonObject o => o,
            _ => throw new JsonException("ssm_cfg must be an object"),
        };
        if (ssm["layer"] is JsonNode layer && !(layer is JsonValue v && v.TryGetValue<string>(out var name) && name == "Mamba1"))
            throw new JsonException($"ssm_cfg.layer '{layer.ToJsonString()}' is not supported (only Mamba1)");
        var dst = new JsonObject
        {
            ["hidden_size"] = Int(src, "d_model") ?? throw new JsonException("the mamba_ssm config has no integer 'd_model'"),
            ["num_hidden_layers"] = Int(src, "n_layer") ?? throw new JsonException("the mamba_ssm config has no integer 'n_layer'"),
            ["vocab_size"] = (int)padded,
            ["residual_in_fp32"] = Bool(src, "residual_in_fp32") ?? true,
            ["tie_word_embeddings"] = Bool(src, "tie_embeddings") ?? true,
            ["state_size"] = Int(ssm, "d_state", "ssm_cfg.") ?? 16,
            ["conv_kernel"] = Int(ssm, "d_conv", "ssm_cfg.") ?? 4,
            ["expand"] = Int(ssm, "expand", "ssm_cfg.") ?? 2,
        };
        if (ssm["dt_rank"] is JsonValue rank && rank.TryGetValue<int>(out int r)) dst["time_step_rank"] = r;
        return dst;
    }

    // The integer at src[name], null when absent; a value of another kind is an error naming the field.
    private static int? Int(JsonObject src, string name, string prefix = "")
    {
        var node = src[name];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int i)) return i;
        if (node is JsonValue w && w.TryGetValue<int>(out int j)) return j;
        throw new JsonException($"{prefix}{name} must be a 32-bit integer, got {node.ToJsonString()}");
    }

    private static bool? Bool(JsonObject src, string name)
    {
        var node = src[name];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue<bool>(out bool b)) return b;
        throw new JsonException($"{name} must be true or false, got {node.ToJsonString()}");
    }

    /// <summary>Reads "auto" (or null) as 0 and numbers as themselves.</summary>
    private sealed class AutoIntConverter : JsonConverter<int>
    {
        public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number)
                return reader.TryGetInt32(out int value) ? value : throw new JsonException("time_step_rank is not a 32-bit integer");
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.Null) return 0;
            throw new JsonException($"time_step_rank must be a number or \"auto\", got {reader.TokenType}");
        }

        public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options)
        {
            if (value > 0) writer.WriteNumberValue(value); else writer.WriteStringValue("auto");
        }
    }
}
