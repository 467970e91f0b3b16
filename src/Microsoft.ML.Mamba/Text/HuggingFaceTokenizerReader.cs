using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// Reads a byte-level BPE tokenizer from Hugging Face files: <c>tokenizer.json</c>, or the older
/// <c>vocab.json</c> + <c>merges.txt</c> pair, with special tokens from <c>tokenizer_config.json</c>,
/// <c>special_tokens_map.json</c> and <c>added_tokens.json</c> when present.
/// </summary>
internal static class HuggingFaceTokenizerReader
{
    public const string TokenizerJson = "tokenizer.json";
    public const string VocabJson = "vocab.json";
    public const string MergesTxt = "merges.txt";
    public const string TokenizerConfigJson = "tokenizer_config.json";
    public const string SpecialTokensMapJson = "special_tokens_map.json";
    public const string AddedTokensJson = "added_tokens.json";

    /// <summary>Reads a tokenizer from a <c>tokenizer.json</c> file or from a directory holding one (or the vocab/merges pair).</summary>
    public static HuggingFaceBpeDefinition Read(string pathOrDirectory)
    {
        string directory;
        Dictionary<string, int> vocabulary;
        List<string> merges;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        NormalizationForm? normalization = null;

        if (Directory.Exists(pathOrDirectory))
        {
            directory = pathOrDirectory;
            string tokenizerJson = Path.Combine(directory, TokenizerJson);
            string vocabJson = Path.Combine(directory, VocabJson);
            string mergesTxt = Path.Combine(directory, MergesTxt);
            if (File.Exists(tokenizerJson))
            {
                (vocabulary, merges, normalization) = ReadTokenizerJson(tokenizerJson, added);
            }
            else if (File.Exists(vocabJson) && File.Exists(mergesTxt))
            {
                vocabulary = ReadVocabJson(vocabJson);
                merges = ReadMergesTxt(mergesTxt);
            }
            else
            {
                throw new FileNotFoundException(
                    $"The directory '{directory}' holds neither '{TokenizerJson}' nor both '{VocabJson}' and '{MergesTxt}'.", tokenizerJson);
            }
        }
        else if (File.Exists(pathOrDirectory))
        {
            directory = Path.GetDirectoryName(Path.GetFullPath(pathOrDirectory))!;
            (vocabulary, merges, normalization) = ReadTokenizerJson(pathOrDirectory, added);
        }
        else
        {
            throw new FileNotFoundException($"The tokenizer file or directory '{pathOrDirectory}' does not exist.", pathOrDirectory);
        }

        ReadAddedTokensJson(Path.Combine(directory, AddedTokensJson), added);
        var specials = new SpecialTokenNames();
        specials.ApplyConventions(token => added.ContainsKey(token) || vocabulary.ContainsKey(token));
        specials.ApplyConfig(Path.Combine(directory, TokenizerConfigJson), added);
        specials.ApplyConfig(Path.Combine(directory, SpecialTokensMapJson), added: null);

        // Special tokens that live only in the vocabulary (vocab.json + merges.txt form) must still be matched whole.
        foreach (string? token in new[] { specials.Pad, specials.Bos, specials.Eos })
        {
            if (token is not null && !added.ContainsKey(token) && vocabulary.TryGetValue(token, out int id))
            {
                added[token] = id;
            }
        }

        return new HuggingFaceBpeDefinition(
            vocabulary,
            merges,
            added,
            normalization,
            SpecialTokenNames.Resolve(specials.Pad, vocabulary, added, directory),
            SpecialTokenNames.Resolve(specials.Bos, vocabulary, added, directory),
            SpecialTokenNames.Resolve(specials.Eos, vocabulary, added, directory));
    }

    private static (Dictionary<string, int> Vocabulary, List<string> Merges, NormalizationForm? Normalization) ReadTokenizerJson(
        string path, Dictionary<string, int> added)
    {
        using var document = ParseJson(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(path, "it has no 'model' object");
        }

        string? type = OptionalString(model, "type", path);
        if (type is not null and not "BPE")
        {
            throw Unsupported(path, $"its model type is '{type}'; only byte-level BPE is supported");
        }

        if (OptionalBool(model, "byte_fallback"))
        {
            throw Unsupported(path, "it uses byte_fallback BPE (SentencePiece style); only byte-level BPE is supported");
        }

        if (OptionalBool(model, "ignore_merges"))
        {
            throw Unsupported(path, "it sets ignore_merges, which the underlying BPE implementation does not offer");
        }

        CheckByteLevelPreTokenizer(root, path);
        if (!model.TryGetProperty("vocab", out var vocabElement))
        {
            throw Malformed(path, "its model has no 'vocab'");
        }

        var vocabulary = ReadVocabulary(vocabElement, path);
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var mergesElement))
        {
            if (mergesElement.ValueKind != JsonValueKind.Array)
            {
                throw Malformed(path, "its model 'merges' is not an array");
            }

            foreach (var merge in mergesElement.EnumerateArray())
            {
                merges.Add(ReadMerge(merge, path));
            }
        }

        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in addedTokens.EnumerateArray())
            {
                if (token.ValueKind != JsonValueKind.Object
                    || !token.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number
                    || !id.TryGetInt32(out int tokenId) || tokenId < 0
                    || OptionalString(token, "content", path) is not { Length: > 0 } content)
                {
                    throw Malformed(path, $"added token {token} needs a non-negative 'id' and a non-empty 'content'");
                }

                added[content] = tokenId;
            }
        }

        return (vocabulary, merges, ReadNormalization(root, path));
    }

    private static string ReadMerge(JsonElement merge, string path)
    {
        // Older files write "left right"; newer ones write ["left", "right"].
        if (merge.ValueKind == JsonValueKind.String && merge.GetString() is { } text && text.Split(' ').Length == 2)
        {
            return text;
        }

        if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
            && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
        {
            string left = merge[0].GetString()!, right = merge[1].GetString()!;
            if (left.Length > 0 && right.Length > 0 && !left.Contains(' ') && !right.Contains(' '))
            {
                return left + " " + right;
            }
        }

        throw Malformed(path, $"merge {merge} is not a pair of tokens");
    }

    private static void CheckByteLevelPreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
        {
            throw Unsupported(path, "it has no pre_tokenizer; only byte-level BPE (a ByteLevel pre-tokenizer) is supported");
        }

        // A Sequence holding just one ByteLevel step is the same thing.
        if (OptionalString(pre, "type", path) == "Sequence"
            && pre.TryGetProperty("pretokenizers", out var steps) && steps.ValueKind == JsonValueKind.Array && steps.GetArrayLength() == 1)
        {
            pre = steps[0];
        }

        string? type = OptionalString(pre, "type", path);
        if (type != "ByteLevel")
        {
            throw Unsupported(path, $"its pre_tokenizer is '{type}'; only a single ByteLevel pre-tokenizer is supported");
        }

        if (OptionalBool(pre, "add_prefix_space"))
        {
            throw Unsupported(path, "its ByteLevel pre-tokenizer sets add_prefix_space, which is not supported");
        }

        if (pre.TryGetProperty("use_regex", out var useRegex) && useRegex.ValueKind == JsonValueKind.False)
        {
            throw Unsupported(path, "its ByteLevel pre-tokenizer sets use_regex to false, which is not supported");
        }
    }

    private static NormalizationForm? ReadNormalization(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return OptionalString(normalizer, "type", path) switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFD" => NormalizationForm.FormD,
            "NFKC" => NormalizationForm.FormKC,
            "NFKD" => NormalizationForm.FormKD,
            var other => throw Unsupported(path, $"its normalizer is '{other}'; only none or a Unicode normal form is supported"),
        };
    }

    private static Dictionary<string, int> ReadVocabJson(string path)
    {
        using var document = ParseJson(path);
        return ReadVocabulary(document.RootElement, path);
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(path, "the vocabulary is not an object of token to id");
        }

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
            {
                throw Malformed(path, $"vocabulary entry '{entry.Name}' has id {entry.Value}, which is not a non-negative integer");
            }

            vocabulary[entry.Name] = id;
        }

        return vocabulary;
    }

    private static List<string> ReadMergesTxt(string path)
    {
        var merges = new List<string>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;

            // The first line is usually a "#version: 0.2" comment; blank lines carry nothing.
            if ((lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)) || line.Length == 0)
            {
                continue;
            }

            if (line.Split(' ').Length != 2)
            {
                throw Malformed(path, $"line {lineNumber} is not two tokens separated by one space");
            }

            merges.Add(line);
        }

        return merges;
    }

    private static void ReadAddedTokensJson(string path, Dictionary<string, int> added)
    {
        if (!File.Exists(path))
        {
            return;
        }

        using var document = ParseJson(path);
        foreach (var (token, id) in ReadVocabulary(document.RootElement, path))
        {
            added.TryAdd(token, id);
        }
    }

    internal static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The tokenizer file '{path}' is not valid JSON ({e.Message}).", e);
        }
    }

    internal static string? OptionalString(JsonElement element, string property, string path)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw Malformed(path, $"'{property}' is {value.ValueKind}, not a string");
    }

    private static bool OptionalBool(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.True;

    internal static InvalidDataException Malformed(string path, string problem) =>
        new($"The tokenizer file '{path}' is malformed: {problem}.");

    private static NotSupportedException Unsupported(string path, string problem) =>
        new($"The tokenizer file '{path}' cannot be used: {problem}.");
}
