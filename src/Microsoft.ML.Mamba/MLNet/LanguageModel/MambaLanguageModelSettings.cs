using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>What a saved <see cref="MambaLanguageModelTransformer"/> needs besides the network weights, stored as JSON in the model zip.</summary>
internal sealed class MambaLanguageModelSettings
{
    public const int CurrentFormatVersion = 1;
    public int FormatVersion { get; set; } = CurrentFormatVersion;
    public string PromptColumnName { get; set; } = "Prompt";
    public string OutputColumnName { get; set; } = "GeneratedText";
    public SamplingOptions Sampling { get; set; } = new();
    public MambaTokenizerKind Tokenizer { get; set; }
    public string[] NetworkFiles { get; set; } = [];
    public string[] TokenizerFiles { get; set; } = [];

    /// <summary>Largest Sampling.MaxNewTokens a saved model may ask for (1,000,000 tokens per row).</summary>
    public const int MaxNewTokensLimit = 1_000_000;
    /// <summary>Most stop token ids or stop strings a saved model may carry.</summary>
    public const int MaxStops = 4096;

    /// <summary>Checks settings read from a model zip; throws <see cref="InvalidDataException"/> naming the setting and value.</summary>
    public void Validate()
    {
        static InvalidDataException Bad(string setting, object? value, string rule) =>
            new($"The Mamba language model's setting {setting} = {value ?? "null"} is invalid: {rule}. The model is damaged or was tampered with.");
        if (FormatVersion < 1) throw Bad(nameof(FormatVersion), FormatVersion, "must be at least 1");
        if (FormatVersion > CurrentFormatVersion)
            throw new InvalidDataException($"The model was saved by a newer Microsoft.ML.Mamba (format {FormatVersion}); this one reads up to {CurrentFormatVersion}.");
        if (string.IsNullOrEmpty(PromptColumnName)) throw Bad(nameof(PromptColumnName), PromptColumnName, "must not be empty");
        if (string.IsNullOrEmpty(OutputColumnName)) throw Bad(nameof(OutputColumnName), OutputColumnName, "must not be empty");
        if (!Enum.IsDefined(Tokenizer)) throw Bad(nameof(Tokenizer), Tokenizer, "not a known tokenizer");
        if (Sampling is null) throw Bad(nameof(Sampling), null, "must be present");
        try { Sampling.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"The Mamba language model's Sampling settings are invalid: {e.Message}", e); }
        if (Sampling.MaxNewTokens > MaxNewTokensLimit) throw Bad("Sampling.MaxNewTokens", Sampling.MaxNewTokens, $"must be at most {MaxNewTokensLimit}");
        if (Sampling.TopK > MambaConfig.MaxVocabSize) throw Bad("Sampling.TopK", Sampling.TopK, $"must be at most {MambaConfig.MaxVocabSize}");
        if (Sampling.StopTokenIds.Count > MaxStops || Sampling.StopTokenIds.Any(id => id < 0 || id >= MambaConfig.MaxVocabSize))
            throw Bad("Sampling.StopTokenIds", $"{Sampling.StopTokenIds.Count} ids", $"at most {MaxStops} ids, each between 0 and {MambaConfig.MaxVocabSize - 1}");
        if (Sampling.StopStrings.Count > MaxStops) throw Bad("Sampling.StopStrings", $"{Sampling.StopStrings.Count} strings", $"at most {MaxStops}");
        ModelZipEntries.ValidateFileNames(NetworkFiles, TokenizerFiles);
        if ((Tokenizer == MambaTokenizerKind.HuggingFace) != (TokenizerFiles.Length > 0))
            throw Bad(nameof(TokenizerFiles), $"{TokenizerFiles.Length} files", $"a {Tokenizer} tokenizer {(Tokenizer == MambaTokenizerKind.HuggingFace ? "needs its files" : "has no files")}");
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    /// <summary>Parses and <see cref="Validate"/>s settings; bad JSON is an <see cref="InvalidDataException"/>.</summary>
    public static MambaLanguageModelSettings FromJson(string json)
    {
        MambaLanguageModelSettings? settings;
        try { settings = JsonSerializer.Deserialize<MambaLanguageModelSettings>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"The Mamba language-model settings in the model are not valid: {e.Message}", e); }
        (settings ?? throw new InvalidDataException("The Mamba language-model settings in the model are empty.")).Validate();
        return settings;
    }
}
