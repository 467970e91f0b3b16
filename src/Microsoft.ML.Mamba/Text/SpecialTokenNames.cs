using System.Text.Json;

namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// Works out which token strings play the padding, beginning- and end-of-sequence roles, from well-known
/// names and then from Hugging Face configuration files, later sources overriding earlier ones.
/// </summary>
internal sealed class SpecialTokenNames
{
    // Used only when no configuration file names the role (GPT-NeoX's tokenizer.json on its own, for example).
    private static readonly string[] ConventionalBos = ["<|endoftext|>", "<s>", "<bos>"];
    private static readonly string[] ConventionalEos = ["<|endoftext|>", "</s>", "<eos>"];
    private static readonly string[] ConventionalPad = ["<|padding|>", "<pad>", "[PAD]"];

    /// <summary>The padding token's text, or null.</summary>
    public string? Pad { get; private set; }

    /// <summary>The beginning-of-sequence token's text, or null.</summary>
    public string? Bos { get; private set; }

    /// <summary>The end-of-sequence token's text, or null.</summary>
    public string? Eos { get; private set; }

    /// <summary>Fills each role with the first conventional token name that exists.</summary>
    public void ApplyConventions(Func<string, bool> exists)
    {
        Bos = ConventionalBos.FirstOrDefault(exists);
        Eos = ConventionalEos.FirstOrDefault(exists);
        Pad = ConventionalPad.FirstOrDefault(exists);
    }

    /// <summary>
    /// Applies <c>bos_token</c>, <c>eos_token</c> and <c>pad_token</c> from a <c>tokenizer_config.json</c> or
    /// <c>special_tokens_map.json</c> file when it exists; an explicit null clears the role. Tokens listed under
    /// <c>added_tokens_decoder</c> are added to <paramref name="added"/> when it is given.
    /// </summary>
    public void ApplyConfig(HuggingFaceTokenizerReader.FileReader reader, string name, Dictionary<string, int>? added)
    {
        if (!reader.Exists(name))
        {
            return;
        }

        reader.ReadJson(name, (root, path) => ApplyConfig(root, path, reader.Limits, added));
    }

    private bool ApplyConfig(JsonElement root, string path, TokenizerFileLimits limits, Dictionary<string, int>? added)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw HuggingFaceTokenizerReader.Malformed(path, "it is not a JSON object");
        }

        if (added is not null && root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in decoder.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, out int id) || id < 0 || id > limits.MaxTokenId
                    || TokenText(entry.Value, "added_tokens_decoder", path) is not { Length: > 0 } content)
                {
                    throw HuggingFaceTokenizerReader.Malformed(path,
                        $"added_tokens_decoder entry '{HuggingFaceTokenizerReader.Shorten(entry.Name)}' needs an id from 0 to {limits.MaxTokenId:N0} and a 'content'");
                }

                added.TryAdd(content, id);
            }
        }

        if (root.TryGetProperty("bos_token", out var bos))
        {
            Bos = TokenText(bos, "bos_token", path);
        }

        if (root.TryGetProperty("eos_token", out var eos))
        {
            Eos = TokenText(eos, "eos_token", path);
        }

        if (root.TryGetProperty("pad_token", out var pad))
        {
            Pad = TokenText(pad, "pad_token", path);
        }

        return true;
    }

    /// <summary>The id of <paramref name="token"/>, looked up among added tokens first, then the vocabulary.</summary>
    /// <exception cref="InvalidDataException">The configuration names a token the tokenizer does not have.</exception>
    public static int? Resolve(string? token, IReadOnlyDictionary<string, int> vocabulary, IReadOnlyDictionary<string, int> added, string source)
    {
        if (token is null)
        {
            return null;
        }

        if (added.TryGetValue(token, out int id) || vocabulary.TryGetValue(token, out id))
        {
            return id;
        }

        throw new InvalidDataException($"The tokenizer in '{source}' names special token '{HuggingFaceTokenizerReader.Shorten(token)}', which is neither an added token nor in the vocabulary.");
    }

    // Roles are written either as the token text or as an object whose "content" is the text.
    private static string? TokenText(JsonElement value, string property, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object => HuggingFaceTokenizerReader.OptionalString(value, "content", path),
        _ => throw HuggingFaceTokenizerReader.Malformed(path, $"'{property}' is {value.ValueKind}, not a token"),
    };
}
