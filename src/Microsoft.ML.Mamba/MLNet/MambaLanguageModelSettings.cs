using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Mamba.Generation;

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

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static MambaLanguageModelSettings FromJson(string json) =>
        JsonSerializer.Deserialize<MambaLanguageModelSettings>(json, Json) ?? throw new InvalidDataException("The Mamba language-model settings in the model are empty.");
}
