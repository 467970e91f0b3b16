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
    /// <summary>Classification: the logits are divided by this before scores are formed (1 = uncalibrated).</summary>
    public float Temperature { get; set; } = 1;
    public MambaTokenizerKind Tokenizer { get; set; }
    public string[] NetworkFiles { get; set; } = [];
    public string[] TokenizerFiles { get; set; } = [];

    /// <summary>Largest MaxSequenceLength a saved model may ask for (16,777,216 tokens).</summary>
    public const int MaxSequenceLengthLimit = 1 << 24;
    /// <summary>Largest ScoringBatchSize a saved model may ask for.</summary>
    public const int MaxScoringBatchSize = 1 << 16;
    /// <summary>Most classes a saved multiclass model may have.</summary>
    public const int MaxClasses = 1 << 20;

    /// <summary>Checks settings read from a model zip; throws <see cref="InvalidDataException"/> naming the setting and value.</summary>
    public void Validate()
    {
        static InvalidDataException Bad(string setting, object? value, string rule) =>
            new($"The Mamba model's setting {setting} = {value ?? "null"} is invalid: {rule}. The model is damaged or was tampered with.");
        if (FormatVersion < 1) throw Bad(nameof(FormatVersion), FormatVersion, "must be at least 1");
        if (FormatVersion > CurrentFormatVersion)
            throw new InvalidDataException($"The model was saved by a newer Microsoft.ML.Mamba (format {FormatVersion}); this one reads up to {CurrentFormatVersion}.");
        if (!Enum.IsDefined(Task)) throw Bad(nameof(Task), Task, "not a known task");
        if (!Enum.IsDefined(Pooling)) throw Bad(nameof(Pooling), Pooling, "not a known pooling");
        if (!Enum.IsDefined(Tokenizer)) throw Bad(nameof(Tokenizer), Tokenizer, "not a known tokenizer");
        if (TextColumnNames is null || TextColumnNames.Any(string.IsNullOrEmpty)) throw Bad(nameof(TextColumnNames), TextColumnNames, "column names must not be empty");
        if (ExtraColumnNames is null || ExtraColumnNames.Any(string.IsNullOrEmpty)) throw Bad(nameof(ExtraColumnNames), ExtraColumnNames, "column names must not be empty");
        if (string.IsNullOrEmpty(ScoreColumnName)) throw Bad(nameof(ScoreColumnName), ScoreColumnName, "must not be empty");
        if (string.IsNullOrEmpty(PredictedLabelColumnName)) throw Bad(nameof(PredictedLabelColumnName), PredictedLabelColumnName, "must not be empty");
        if (SequenceTask.For(Task).CheckNumberOfOutputs(NumberOfClasses) is { } rule) throw Bad(nameof(NumberOfClasses), NumberOfClasses, rule);
        if (ClassNames is not null && (ClassNames.Length != NumberOfClasses || ClassNames.Any(n => n is null)))
            throw Bad(nameof(ClassNames), $"{ClassNames.Length} names", $"must be {NumberOfClasses} names, one per class");
        if (MaxSequenceLength < 1 || MaxSequenceLength > MaxSequenceLengthLimit) throw Bad(nameof(MaxSequenceLength), MaxSequenceLength, $"must be between 1 and {MaxSequenceLengthLimit}");
        if (ScoringBatchSize < 1 || ScoringBatchSize > MaxScoringBatchSize) throw Bad(nameof(ScoringBatchSize), ScoringBatchSize, $"must be between 1 and {MaxScoringBatchSize}");
        if (!float.IsFinite(TargetMean)) throw Bad(nameof(TargetMean), TargetMean, "must be finite");
        if (!float.IsFinite(TargetScale) || TargetScale == 0) throw Bad(nameof(TargetScale), TargetScale, "must be finite and non-zero");
        if (!(Temperature >= TemperatureScaling.Min && Temperature <= TemperatureScaling.Max))
            throw Bad(nameof(Temperature), Temperature, $"must be between {TemperatureScaling.Min} and {TemperatureScaling.Max}");
        ModelZipEntries.ValidateFileNames(NetworkFiles, TokenizerFiles);
        if ((Tokenizer == MambaTokenizerKind.HuggingFace) != (TokenizerFiles.Length > 0))
            throw Bad(nameof(TokenizerFiles), $"{TokenizerFiles.Length} files", $"a {Tokenizer} tokenizer {(Tokenizer == MambaTokenizerKind.HuggingFace ? "needs its files" : "has no files")}");
    }

    /// <summary>How the training targets were scaled (regression; identity otherwise).</summary>
    public TargetScaling Scaling() => new(TargetMean, TargetScale);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    /// <summary>Parses and <see cref="Validate"/>s settings; bad JSON is an <see cref="InvalidDataException"/>.</summary>
    public static MambaTransformerSettings FromJson(string json)
    {
        MambaTransformerSettings? settings;
        try { settings = JsonSerializer.Deserialize<MambaTransformerSettings>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"The Mamba settings in the model are not valid: {e.Message}", e); }
        (settings ?? throw new InvalidDataException("The Mamba settings in the model are empty.")).Validate();
        return settings;
    }
}
