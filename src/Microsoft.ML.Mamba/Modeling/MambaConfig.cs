using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// Hyper-parameters of a Mamba model, with the field names of Hugging Face's <c>MambaConfig</c> and
/// <c>Mamba2Config</c> so a checkpoint's <c>config.json</c> reads and writes as it is; <see cref="Architecture"/>
/// (<c>model_type</c> "mamba" or "mamba2") says which mixer the blocks hold. The original mamba_ssm form
/// (<c>d_model</c>, <c>n_layer</c>, <c>ssm_cfg</c> with its <c>layer</c>, <c>pad_vocab_size_multiple</c>) is read too.
/// </summary>
public sealed class MambaConfig
{
    /// <summary>The Hugging Face model type: <c>"mamba"</c> (Mamba-1) or <c>"mamba2"</c>; see <see cref="Architecture"/>.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "mamba";

    /// <summary>
    /// The mixer family, read from and written to <see cref="ModelType"/>: <see cref="MambaArchitecture.Mamba2"/> for
    /// <c>"mamba2"</c>, <see cref="MambaArchitecture.Mamba1"/> otherwise. Setting it keeps every other field; the
    /// Mamba-2 fields (<see cref="NumHeads"/>, <see cref="HeadDim"/>, <see cref="NGroups"/>, <see cref="ChunkSize"/>,
    /// <see cref="TimeStepLimit"/>) apply only to Mamba-2.
    /// </summary>
    [JsonIgnore] public MambaArchitecture Architecture
    {
        get => ModelType == Mamba2ModelType ? MambaArchitecture.Mamba2 : MambaArchitecture.Mamba1;
        set => ModelType = value switch
        {
            MambaArchitecture.Mamba1 => "mamba",
            MambaArchitecture.Mamba2 => Mamba2ModelType,
            _ => throw new ArgumentOutOfRangeException(nameof(value), value, "not a Mamba architecture"),
        };
    }

    private const string Mamba2ModelType = "mamba2";
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

    /// <summary>Mamba-2: heads of <see cref="HeadDim"/> channels, each with one scalar decay; 0 (the default) means
    /// the inner width / <see cref="HeadDim"/>. Written out as the number used.</summary>
    [JsonPropertyName("num_heads")] public int NumHeads { get; set; }
    /// <summary>Mamba-2: channels per head (mamba_ssm's <c>headdim</c>). Default 64.</summary>
    [JsonPropertyName("head_dim")] public int HeadDim { get; set; } = 64;
    /// <summary>Mamba-2: groups of heads that share B and C (mamba_ssm's <c>ngroups</c>). Default 1.</summary>
    [JsonPropertyName("n_groups")] public int NGroups { get; set; } = 1;
    /// <summary>Mamba-2: time steps per chunk of the chunked SSD scan; changes speed and rounding, not the result. Default 256.</summary>
    [JsonPropertyName("chunk_size")] public int ChunkSize { get; set; } = 256;
    /// <summary>
    /// Mamba-2: Δ is clamped to [min, max] after softplus (Hugging Face's <c>time_step_limit</c>, mamba_ssm's
    /// <c>dt_limit</c>). Default [0, ∞): no clamp. An infinite bound reads from <c>Infinity</c>, <c>"Infinity"</c> or
    /// transformers' <c>{"__float__": "Infinity"}</c>.
    /// </summary>
    [JsonPropertyName("time_step_limit")][JsonConverter(typeof(TimeStepLimitConverter))]
    public double[] TimeStepLimit { get; set; } = [0.0, double.PositiveInfinity];
    /// <summary>
    /// Mamba-2 (not a Hugging Face field): the gated RMSNorm before out_proj normalises each of the
    /// <see cref="NGroups"/> groups of channels on its own, as mamba_ssm's Mamba2 module does, instead of the whole
    /// inner width as transformers does. Set for checkpoints in the mamba_ssm form; written only when set.
    /// </summary>
    [JsonPropertyName("norm_per_group")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool NormPerGroup { get; set; }

    /// <summary>Fields this class does not model, kept so a round trip loses nothing.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>The inner width actually used.</summary>
    /// <remarks>Checked: sizes that overflow throw <see cref="OverflowException"/> (<see cref="Validate"/> rejects them first).</remarks>
    [JsonIgnore] public int InnerSize => IntermediateSize > 0 ? IntermediateSize : checked(Expand * HiddenSize);

    /// <summary>The Δ rank actually used.</summary>
    [JsonIgnore] public int DtRank => TimeStepRank > 0 ? TimeStepRank : (int)((HiddenSize + 15L) / 16);

    /// <summary>Mamba-2: the number of heads actually used (<see cref="NumHeads"/>, or inner width / <see cref="HeadDim"/>).</summary>
    [JsonIgnore] public int Heads => NumHeads > 0 ? NumHeads : HeadDim > 0 ? InnerSize / HeadDim : 0;

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>Parses a config.json text (Hugging Face or original mamba_ssm form).</summary>
    public static MambaConfig FromJson(string json)
    {
        var node = JsonNode.Parse(QuoteNonFiniteLiterals(json)) as JsonObject ?? throw new JsonException("config.json is not a JSON object");
        if (node.ContainsKey("d_model") && !node.ContainsKey("hidden_size"))
            node = FromMambaSsmForm(node);
        else if (node["model_type"] is JsonValue type && type.TryGetValue<string>(out var name) && name == Mamba2ModelType)
            AddMamba2Defaults(node);
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

    /// <summary>
    /// The config as Hugging Face config.json text: <c>intermediate_size</c> and <c>time_step_rank</c> written out for
    /// Mamba-1, <c>num_heads</c> for Mamba-2, and only the fields of the architecture's own Hugging Face config
    /// (<c>time_step_limit</c> only when it clamps).
    /// </summary>
    public string ToJson()
    {
        var node = JsonSerializer.SerializeToNode(this, s_json)!.AsObject();
        node["time_step_rank"] = DtRank;
        if (Architecture == MambaArchitecture.Mamba2)
        {
            node["num_heads"] = Heads;
            foreach (var key in new[] { "intermediate_size", "time_step_scale", "time_step_init_scheme" }) node.Remove(key);
            if (TimeStepLimit is [0.0, double.PositiveInfinity]) node.Remove("time_step_limit");
            if (!node.ContainsKey("architectures")) node["architectures"] = new JsonArray("Mamba2ForCausalLM");
        }
        else
        {
            node["intermediate_size"] = InnerSize;
            foreach (var key in new[] { "num_heads", "head_dim", "n_groups", "chunk_size", "time_step_limit", "norm_per_group" }) node.Remove(key);
            if (!node.ContainsKey("architectures")) node["architectures"] = new JsonArray("MambaForCausalLM");
        }
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
    /// <summary>Largest Mamba-2 head_dim accepted (the kernels' limit).</summary>
    public const int MaxHeadDim = 256;
    /// <summary>Largest Mamba-2 chunk_size accepted (the kernels' limit).</summary>
    public const int MaxChunkSize = 1024;

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
        if (Architecture == MambaArchitecture.Mamba2) ValidateMamba2(inner);
    }

    // Mamba-2's fields: H heads of P channels make the inner width, G groups divide the heads, and the limits are the
    // kernels'. Sizes are longs: nothing here can overflow whatever the file says.
    private void ValidateMamba2(long inner)
    {
        static void InRange(long value, long max, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}");
            if (value > max) throw new ArgumentException($"{name} must be at most {max}, got {value}");
        }
        if (IntermediateSize > 0 && IntermediateSize != (long)Expand * HiddenSize)
            throw new ArgumentException($"intermediate_size {IntermediateSize} must be expand × hidden_size ({(long)Expand * HiddenSize}) in a mamba2 config, or 0");
        InRange(Expand, MaxExpand, "expand");
        InRange(HeadDim, MaxHeadDim, "head_dim");
        if (NumHeads < 0) throw new ArgumentException($"num_heads must be positive, got {NumHeads}");
        long heads = NumHeads > 0 ? NumHeads : inner / HeadDim;
        if (heads * HeadDim != inner)
            throw new ArgumentException(NumHeads > 0
                ? $"num_heads × head_dim ({NumHeads} × {HeadDim}) must equal the inner width expand × hidden_size ({inner})"
                : $"head_dim {HeadDim} must divide the inner width expand × hidden_size ({inner})");
        InRange(NGroups, heads, "n_groups");
        if (heads % NGroups != 0) throw new ArgumentException($"n_groups {NGroups} must divide num_heads {heads}");
        InRange(ChunkSize, MaxChunkSize, "chunk_size");
        if (TimeStepLimit is not { Length: 2 } limit || double.IsNaN(limit[0]) || double.IsNaN(limit[1])
            || !double.IsFinite(limit[0]) || limit[0] < 0 || limit[1] < limit[0])
            throw new ArgumentException($"time_step_limit must be [min, max] with 0 ≤ min ≤ max and min finite, got [{string.Join(", ", TimeStepLimit ?? [])}]");
        if (TimeInvariantSsm || Ungated)
            throw new ArgumentException("time_invariant_ssm and ungated are Mamba-1 ablations; a mamba2 config cannot set them");
    }

    // Hugging Face's Mamba2Config defaults for the fields a "mamba2" config.json leaves out (they differ from
    // MambaConfig's: larger state, 8 groups, untied head, no rescaled out_proj, initializer_range 0.1).
    private static void AddMamba2Defaults(JsonObject node)
    {
        void Default(string key, JsonNode value)
        {
            if (!node.ContainsKey(key)) node[key] = value;
        }
        Default("num_heads", 128); Default("head_dim", 64); Default("vocab_size", 32768); Default("hidden_size", 4096);
        Default("state_size", 128); Default("num_hidden_layers", 64); Default("pad_token_id", 1); Default("bos_token_id", 0);
        Default("eos_token_id", 2); Default("n_groups", 8); Default("initializer_range", 0.1);
        Default("rescale_prenorm_residual", false); Default("chunk_size", 256); Default("tie_word_embeddings", false);
    }

    // Python's json writes float('inf') as a bare Infinity token, which is not JSON: quote NaN, Infinity and -Infinity
    // outside strings so the parser takes them (the time_step_limit converter reads the quoted forms).
    private static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("Infinity", StringComparison.Ordinal) && !json.Contains("NaN", StringComparison.Ordinal)) return json;
        var result = new System.Text.StringBuilder(json.Length + 16);
        bool inString = false;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            if (inString)
            {
                result.Append(c);
                if (c == '\\' && i + 1 < json.Length) result.Append(json[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"') { inString = true; result.Append(c); continue; }
            string? literal = Literal(json, i, "-Infinity") ?? Literal(json, i, "Infinity") ?? Literal(json, i, "NaN");
            if (literal is null) { result.Append(c); continue; }
            result.Append('"').Append(literal).Append('"');
            i += literal.Length - 1;
        }
        return result.ToString();

        static string? Literal(string s, int at, string word) => string.CompareOrdinal(s, at, word, 0, word.Length) == 0 ? word : null;
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
        string layerName = "Mamba1";
        if (ssm["layer"] is JsonNode layer)
            layerName = layer is JsonValue v && v.TryGetValue<string>(out var named) && named is "Mamba1" or "Mamba2" ? named : throw new JsonException($"ssm_cfg.layer '{layer.ToJsonString()}' is not supported (Mamba1 or Mamba2)");
        // Hybrids (attention layers, MLPs between mixers) are other models.
        if (Int(src, "d_intermediate") is > 0) throw new JsonException("d_intermediate > 0 (MLP layers between the mixers) is not supported");
        if (src["attn_layer_idx"] is JsonArray { Count: > 0 }) throw new JsonException("attn_layer_idx (attention layers) is not supported");
        if (Bool(src, "rms_norm") == false) throw new JsonException("rms_norm false (LayerNorm blocks) is not supported");
        bool mamba2 = layerName == "Mamba2";
        var dst = new JsonObject
        {
            ["hidden_size"] = Int(src, "d_model") ?? throw new JsonException("the mamba_ssm config has no integer 'd_model'"),
            ["num_hidden_layers"] = Int(src, "n_layer") ?? throw new JsonException("the mamba_ssm config has no integer 'n_layer'"),
            ["vocab_size"] = (int)padded,
            ["residual_in_fp32"] = Bool(src, "residual_in_fp32") ?? true,
            ["tie_word_embeddings"] = Bool(src, "tie_embeddings") ?? true,
            ["state_size"] = Int(ssm, "d_state", "ssm_cfg.") ?? (mamba2 ? 128 : 16),
            ["conv_kernel"] = Int(ssm, "d_conv", "ssm_cfg.") ?? 4,
            ["expand"] = Int(ssm, "expand", "ssm_cfg.") ?? 2,
        };
        if (Bool(ssm, "bias") is bool bias) dst["use_bias"] = bias;
        if (Bool(ssm, "conv_bias") is bool convBias) dst["use_conv_bias"] = convBias;
        if (!mamba2)
        {
            if (ssm["dt_rank"] is JsonValue rank && rank.TryGetValue<int>(out int r)) dst["time_step_rank"] = r;
            return dst;
        }
        // mamba_ssm's Mamba2 module: its defaults, and only the variant Hugging Face's Mamba2 has.
        dst["model_type"] = Mamba2ModelType;
        dst["head_dim"] = Int(ssm, "headdim", "ssm_cfg.") ?? 64;
        int groups = Int(ssm, "ngroups", "ssm_cfg.") ?? 1;
        dst["n_groups"] = groups;
        dst["chunk_size"] = Int(ssm, "chunk_size", "ssm_cfg.") ?? 256;
        if (ssm["dt_limit"] is JsonNode limit) dst["time_step_limit"] = limit.DeepClone();
        // Its gated norm normalises each group on its own (group_size = d_ssm / ngroups); one group is the whole width.
        if (groups > 1) dst["norm_per_group"] = true;
        if (ssm["d_ssm"] is JsonNode dSsm && dSsm.GetValueKind() != JsonValueKind.Null)
            throw new JsonException("ssm_cfg.d_ssm is not supported (the SSM spans the whole inner width)");
        if (Bool(ssm, "rmsnorm") == false) throw new JsonException("ssm_cfg.rmsnorm false (no gated norm) is not supported");
        if (Bool(ssm, "norm_before_gate") == true) throw new JsonException("ssm_cfg.norm_before_gate true is not supported");
        if (Bool(ssm, "D_has_hdim") == true) throw new JsonException("ssm_cfg.D_has_hdim true (D per channel) is not supported");
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

    /// <summary>time_step_limit: two numbers, where an infinite one may be a bare <c>Infinity</c> (quoted before parsing),
    /// a string, or transformers' <c>{"__float__": "Infinity"}</c>; written as numbers, ∞ as the largest double.</summary>
    private sealed class TimeStepLimitConverter : JsonConverter<double[]>
    {
        public override double[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("time_step_limit must be a list of two numbers");
            var values = new List<double>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (values.Count == 2) throw new JsonException("time_step_limit must be a list of two numbers");
                values.Add(reader.TokenType switch
                {
                    JsonTokenType.Number => reader.GetDouble(),
                    JsonTokenType.String => Named(reader.GetString()),
                    JsonTokenType.StartObject => FloatObject(ref reader),
                    _ => throw new JsonException($"time_step_limit holds a {reader.TokenType}, not a number"),
                });
            }
            if (values.Count != 2) throw new JsonException("time_step_limit must be a list of two numbers");
            return values.ToArray();
        }

        // transformers 5's encoding of a non-finite float: {"__float__": "Infinity"}.
        private static double FloatObject(ref Utf8JsonReader reader)
        {
            double? value = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.GetString() != "__float__" || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    throw new JsonException("time_step_limit holds an object other than {\"__float__\": \"Infinity\"}");
                value = Named(reader.GetString());
            }
            return value ?? throw new JsonException("time_step_limit holds an empty object");
        }

        private static double Named(string? text) => text switch
        {
            "Infinity" or "inf" => double.PositiveInfinity,
            "-Infinity" or "-inf" => double.NegativeInfinity,
            "NaN" or "nan" => double.NaN,
            _ => throw new JsonException($"time_step_limit holds the string '{text}', not a number"),
        };

        public override void Write(Utf8JsonWriter writer, double[] value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var v in value) writer.WriteNumberValue(double.IsPositiveInfinity(v) ? double.MaxValue : double.IsNegativeInfinity(v) ? double.MinValue : v);
            writer.WriteEndArray();
        }
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
