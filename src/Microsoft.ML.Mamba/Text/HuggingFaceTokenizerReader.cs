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
    public static HuggingFaceBpeDefinition Read(string pathOrDirectory) =>
        Read(TokenizerFileSource.FromPath(pathOrDirectory), TokenizerFileLimits.Default);

    /// <summary>Reads a tokenizer from <paramref name="files"/>, refusing anything beyond <paramref name="limits"/>.</summary>
    public static HuggingFaceBpeDefinition Read(TokenizerFileSource files, TokenizerFileLimits limits)
    {
        Dictionary<string, int> vocabulary;
        List<string> merges;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        NormalizationForm? normalization = null;
        var reader = new FileReader(files, limits);

        if (files.Exists(TokenizerJson))
        {
            (vocabulary, merges, normalization) = ReadTokenizerJson(reader, added);
        }
        else if (files.Exists(VocabJson) && files.Exists(MergesTxt))
        {
            vocabulary = ReadVocabJson(reader);
            merges = ReadMergesTxt(reader);
        }
        else
        {
            throw files.NoTokenizerFiles();
        }

        ReadAddedTokensJson(reader, added);
        var specials = new SpecialTokenNames();
        specials.ApplyConventions(token => added.ContainsKey(token) || vocabulary.ContainsKey(token));
        specials.ApplyConfig(reader, TokenizerConfigJson, added);
        specials.ApplyConfig(reader, SpecialTokensMapJson, added: null);

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
            SpecialTokenNames.Resolve(specials.Pad, vocabulary, added, files.Description),
            SpecialTokenNames.Resolve(specials.Bos, vocabulary, added, files.Description),
            SpecialTokenNames.Resolve(specials.Eos, vocabulary, added, files.Description));
    }

    /// <summary>Reads one file of a source within the limits; every problem with its contents names the file.</summary>
    internal sealed class FileReader(TokenizerFileSource files, TokenizerFileLimits limits)
    {
        public TokenizerFileLimits Limits => limits;

        public bool Exists(string name) => files.Exists(name);

        public string Describe(string name) => files.Describe(name);

        /// <summary>The file's bytes, which must be UTF-8.</summary>
        public byte[] ReadUtf8(string name)
        {
            var bytes = files.ReadAllBytes(name, limits.MaxFileBytes);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw Malformed(Describe(name), "it is not valid UTF-8 text");
            return bytes;
        }

        /// <summary>Parses the file as JSON and hands it to <paramref name="read"/>, turning reader errors into InvalidDataException.</summary>
        public T ReadJson<T>(string name, Func<JsonElement, string, T> read)
        {
            string path = Describe(name);
            using var document = ParseJson(ReadUtf8(name), path, limits.MaxJsonDepth);
            try
            {
                return read(document.RootElement, path);
            }
            catch (InvalidOperationException e)
            {
                // JsonElement.GetString on an escaped lone surrogate, for example.
                throw new InvalidDataException($"The tokenizer file '{path}' is malformed: {e.Message}", e);
            }
        }
    }

    private static (Dictionary<string, int> Vocabulary, List<string> Merges, NormalizationForm? Normalization) ReadTokenizerJson(
        FileReader reader, Dictionary<string, int> added) =>
        reader.ReadJson(TokenizerJson, (root, path) => ReadTokenizerJson(root, path, reader.Limits, added));

    private static (Dictionary<string, int> Vocabulary, List<string> Merges, NormalizationForm? Normalization) ReadTokenizerJson(
        JsonElement root, string path, TokenizerFileLimits limits, Dictionary<string, int> added)
    {
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

        var vocabulary = ReadVocabulary(vocabElement, path, limits, uniqueIds: true);
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var mergesElement))
        {
            if (mergesElement.ValueKind != JsonValueKind.Array)
            {
                throw Malformed(path, "its model 'merges' is not an array");
            }

            if (mergesElement.GetArrayLength() > limits.MaxMerges)
            {
                throw Malformed(path, $"it has {mergesElement.GetArrayLength():N0} merges, more than the {limits.MaxMerges:N0} allowed");
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
                    || !id.TryGetInt32(out int tokenId) || tokenId < 0 || tokenId > limits.MaxTokenId
                    || OptionalString(token, "content", path) is not { Length: > 0 } content)
                {
                    throw Malformed(path, $"added token {Shorten(token)} needs an 'id' from 0 to {limits.MaxTokenId:N0} and a non-empty 'content'");
                }

                if (added.TryGetValue(content, out int previous) && previous != tokenId)
                {
                    throw Malformed(path, $"added token '{Shorten(content)}' is listed with ids {previous} and {tokenId}");
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

        throw Malformed(path, $"merge {Shorten(merge)} is not a pair of tokens");
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

    private static Dictionary<string, int> ReadVocabJson(FileReader reader) =>
        reader.ReadJson(VocabJson, (root, path) => ReadVocabulary(root, path, reader.Limits, uniqueIds: true));

    /// <summary>
    /// Token to id, ids from 0 to <see cref="TokenizerFileLimits.MaxTokenId"/>; a token listed twice must keep its id, and
    /// with <paramref name="uniqueIds"/> no two tokens may share an id (decoding would be ambiguous).
    /// </summary>
    private static Dictionary<string, int> ReadVocabulary(JsonElement element, string path, TokenizerFileLimits limits, bool uniqueIds)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(path, "the vocabulary is not an object of token to id");
        }

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokenOfId = uniqueIds ? new Dictionary<int, string>() : null;
        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0 || id > limits.MaxTokenId)
            {
                throw Malformed(path, $"vocabulary entry '{Shorten(entry.Name)}' has id {Shorten(entry.Value)}, which is not an integer from 0 to {limits.MaxTokenId:N0}");
            }

            if (vocabulary.TryGetValue(entry.Name, out int previous) && previous != id)
            {
                throw Malformed(path, $"vocabulary entry '{Shorten(entry.Name)}' is listed with ids {previous} and {id}");
            }

            if (tokenOfId is not null && tokenOfId.TryGetValue(id, out string? other) && other != entry.Name)
            {
                throw Malformed(path, $"vocabulary entries '{Shorten(other)}' and '{Shorten(entry.Name)}' share id {id}");
            }

            vocabulary[entry.Name] = id;
            tokenOfId?.TryAdd(id, entry.Name);
        }

        return vocabulary;
    }

    private static List<string> ReadMergesTxt(FileReader reader)
    {
        string path = reader.Describe(MergesTxt);
        string text = Encoding.UTF8.GetString(reader.ReadUtf8(MergesTxt));
        var merges = new List<string>();
        int lineNumber = 0;
        using var lines = new StringReader(text.TrimStart('\uFEFF'));
        while (lines.ReadLine() is { } line)
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

            if (merges.Count == reader.Limits.MaxMerges)
            {
                throw Malformed(path, $"it has more than the {reader.Limits.MaxMerges:N0} merges allowed");
            }

            merges.Add(line);
        }

        return merges;
    }

    private static void ReadAddedTokensJson(FileReader reader, Dictionary<string, int> added)
    {
        if (!reader.Exists(AddedTokensJson))
        {
            return;
        }

        var tokens = reader.ReadJson(AddedTokensJson, (root, path) => ReadVocabulary(root, path, reader.Limits, uniqueIds: false));
        foreach (var (token, id) in tokens)
        {
            added.TryAdd(token, id);
        }
    }

    private static JsonDocument ParseJson(byte[] utf8, string path, int maxDepth)
    {
        try
        {
            return JsonDocument.Parse(utf8, new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = maxDepth });
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

    /// <summary>A value for a message, cut short: hostile files can hold megabyte-long tokens.</summary>
    internal static string Shorten(object value)
    {
        string text = value.ToString() ?? "";
        return text.Length <= 80 ? text : text[..80] + "…";
    }

    internal static InvalidDataException Malformed(string path, string problem) =>
        new($"The tokenizer file '{path}' is malformed: {problem}.");

    private static NotSupportedException Unsupported(string path, string problem) =>
        new($"The tokenizer file '{path}' cannot be used: {problem}.");
}
