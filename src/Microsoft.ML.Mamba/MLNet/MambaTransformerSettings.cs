using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>What a saved Mamba transformer needs besides the network weights, stored as JSON in the model zip.</summary>
internal sealed class MambaTransformerSettings
{
    public int FormatVersion { get; set; } = CurrentFormatVersion;
    public const int CurrentFormatVersion = 1;
    public MambaTask Task { get; set; }
    public string[] TextColumnNames { get; set; } = [];
    public string[] ExtraColumnNames { get; set; } = [];
    public string ScoreColumnName { get; set; } = "Score";
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";
    public int NumberOfClasses { get; set; } = 1;
    public string[]? ClassNames { get; set; }
    public int MaxSequenceLength { get; set; }
    public SequencePooling Pooling { get; set; }
    public int ScoringBatchSize { get; set; }
    public float TargetMean { get; set; }
    public float TargetScale { get; set; } = 1;
    public MambaTokenizerKind Tokenizer { get; set; }
    public string[] NetworkFiles { get; set; } = [];
    public string[] TokenizerFiles { get; set; } = [];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static MambaTransformerSettings FromJson(string json) =>
        JsonSerializer.Deserialize<MambaTransformerSettings>(json, Json) ?? throw new InvalidDataException("The Mamba settings in the model are empty.");
}
