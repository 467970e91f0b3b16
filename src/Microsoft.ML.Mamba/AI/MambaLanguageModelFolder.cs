using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.AI;

/// <summary>
/// A language model saved together with the tokenizer it was trained with: config.json and model.safetensors in the
/// Hugging Face layout, plus <c>mamba_tokenizer.json</c> naming the tokenizer (and, for a Hugging Face tokenizer, its
/// files copied alongside). Loading then needs no guess about the tokenizer.
/// </summary>
/// <example>
/// <code>
/// MambaLanguageModelFolder.Save("my-model", model, MambaTokenizers.Bytes());
/// var generator = MambaLanguageModelFolder.LoadGenerator("my-model");
/// </code>
/// </example>
public static class MambaLanguageModelFolder
{
    /// <summary>The file that records which tokenizer a saved model uses.</summary>
    public const string TokenizerRecordFile = "mamba_tokenizer.json";

    private const string KindBytes = "bytes", KindGpt2 = "gpt2", KindHuggingFace = "huggingface";

    /// <summary>Writes the model and its tokenizer record to <paramref name="directory"/>.</summary>
    /// <param name="directory">The folder; created when missing.</param>
    /// <param name="model">The language model.</param>
    /// <param name="tokenizer">The tokenizer it was trained with.</param>
    /// <param name="huggingFaceTokenizerPath">For a tokenizer from <see cref="MambaTokenizers.FromHuggingFace"/>: the same path, whose files are copied.</param>
    /// <exception cref="ArgumentException">The tokenizer does not fit the model, or a Hugging Face tokenizer came without its path.</exception>
    public static void Save(string directory, MambaForCausalLM model, IMambaTokenizer tokenizer, string? huggingFaceTokenizerPath = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        CheckFits(model, tokenizer);
        var kind = tokenizer switch
        {
            ByteTokenizer => MambaTokenizerKind.Bytes,
            TiktokenMambaTokenizer => MambaTokenizerKind.Gpt2,
            HuggingFaceBpeTokenizer when huggingFaceTokenizerPath is not null => MambaTokenizerKind.HuggingFace,
            HuggingFaceBpeTokenizer => throw new ArgumentException(
                "A Hugging Face tokenizer is saved by copying its files: pass the path it was loaded from as huggingFaceTokenizerPath.", nameof(huggingFaceTokenizerPath)),
            _ => throw new ArgumentException($"The tokenizer {tokenizer.GetType().Name} cannot be recorded; use one from MambaTokenizers.", nameof(tokenizer)),
        };
        var source = MambaTokenizerSource.FromOptions(kind, huggingFaceTokenizerPath);
        Directory.CreateDirectory(directory);
        model.SavePretrained(directory);
        WriteTokenizerRecord(directory, source, tokenizer.VocabularySize);
    }

    /// <summary>Writes <see cref="TokenizerRecordFile"/> (and a Hugging Face tokenizer's files) into an already saved model folder.</summary>
    internal static void WriteTokenizerRecord(string directory, MambaTokenizerSource source, int vocabularySize)
    {
        foreach (var (name, bytes) in source.Files) File.WriteAllBytes(Path.Combine(directory, name), bytes);
        var record = new JsonObject
        {
            ["kind"] = source.Kind switch { MambaTokenizerKind.Bytes => KindBytes, MambaTokenizerKind.Gpt2 => KindGpt2, _ => KindHuggingFace },
            ["vocabulary_size"] = vocabularySize,
        };
        File.WriteAllText(Path.Combine(directory, TokenizerRecordFile), record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The tokenizer kind <see cref="TokenizerRecordFile"/> names, or null when the folder has no such record.</summary>
    /// <exception cref="InvalidDataException">The record is malformed or names an unknown kind.</exception>
    internal static MambaTokenizerKind? RecordedTokenizerKind(string directory)
    {
        string recordPath = Path.Combine(directory, TokenizerRecordFile);
        if (!File.Exists(recordPath)) return null;
        string? kind;
        try { kind = (JsonNode.Parse(File.ReadAllText(recordPath)) as JsonObject)?["kind"]?.GetValue<string>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{recordPath}' is not a valid tokenizer record: {e.Message}", e);
        }
        return kind switch
        {
            KindBytes => MambaTokenizerKind.Bytes,
            KindGpt2 => MambaTokenizerKind.Gpt2,
            KindHuggingFace => MambaTokenizerKind.HuggingFace,
            _ => throw new InvalidDataException($"'{recordPath}' names an unknown tokenizer kind '{kind}' (known: {KindBytes}, {KindGpt2}, {KindHuggingFace})."),
        };
    }

    /// <summary>
    /// The tokenizer of a saved model folder: the one its <see cref="TokenizerRecordFile"/> names, or, in a folder
    /// without one (a Hugging Face checkpoint), the Hugging Face tokenizer files found there.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder records no tokenizer and holds no tokenizer files.</exception>
    /// <exception cref="InvalidDataException">The record is malformed or does not match the tokenizer rebuilt from it.</exception>
    public static IMambaTokenizer LoadTokenizer(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string recordPath = Path.Combine(directory, TokenizerRecordFile);
        if (!File.Exists(recordPath))
        {
            if (File.Exists(Path.Combine(directory, "tokenizer.json")) || File.Exists(Path.Combine(directory, "vocab.json")))
                return MambaTokenizers.FromHuggingFace(directory);
            throw new FileNotFoundException(
                $"'{directory}' records no tokenizer ({TokenizerRecordFile}) and holds no tokenizer.json or vocab.json; " +
                "save the model with MambaLanguageModelFolder.Save, or build the MambaGenerator with the tokenizer it was trained with.", recordPath);
        }
        string kind;
        int? size;
        try
        {
            var record = JsonNode.Parse(File.ReadAllText(recordPath)) as JsonObject ?? throw new InvalidDataException("not a JSON object");
            kind = record["kind"]?.GetValue<string>() ?? throw new InvalidDataException("no \"kind\"");
            size = record["vocabulary_size"]?.GetValue<int>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or InvalidDataException)
        {
            throw new InvalidDataException($"'{recordPath}' is not a valid tokenizer record: {e.Message}", e);
        }
        var tokenizer = kind switch
        {
            KindBytes => MambaTokenizers.Bytes(),
            KindGpt2 => MambaTokenizers.Gpt2(),
            KindHuggingFace => MambaTokenizers.FromHuggingFace(directory),
            _ => throw new InvalidDataException($"'{recordPath}' names an unknown tokenizer kind '{kind}' (known: {KindBytes}, {KindGpt2}, {KindHuggingFace})."),
        };
        if (size is int expected && expected != tokenizer.VocabularySize)
            throw new InvalidDataException($"'{recordPath}' records a vocabulary of {expected:N0} ids but the {kind} tokenizer has {tokenizer.VocabularySize:N0}.");
        return tokenizer;
    }

    /// <summary>Loads the model of a saved folder with the tokenizer it records, as a generator.</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="device">Where to put the weights; null keeps them on the CPU.</param>
    /// <exception cref="ArgumentException">The recorded tokenizer has more ids than the model has embeddings.</exception>
    public static MambaGenerator LoadGenerator(string directory, Device? device = null)
    {
        var tokenizer = LoadTokenizer(directory);
        var model = MambaForCausalLM.FromPretrained(directory, device);
        model.eval();
        try
        {
            CheckFits(model, tokenizer);
            return new MambaGenerator(model, tokenizer);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Throws when token ids of <paramref name="tokenizer"/> would index past the model's embedding table.</summary>
    internal static void CheckFits(MambaForCausalLM model, IMambaTokenizer tokenizer)
    {
        if (tokenizer.VocabularySize > model.Config.VocabSize)
            throw new ArgumentException(
                $"The tokenizer has {tokenizer.VocabularySize:N0} ids but the model's embeddings have {model.Config.VocabSize:N0} rows (vocab_size): " +
                "this is not the tokenizer the model was trained with.", nameof(tokenizer));
    }
}
