using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// A Hugging Face byte-level BPE tokenizer (GPT-2, RoBERTa and GPT-NeoX style, as used by Mamba checkpoints)
/// running on Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with <see cref="BpeOptions.ByteLevel"/> set.
/// </summary>
internal sealed partial class HuggingFaceBpeTokenizer : IMambaTokenizer
{
    private readonly BpeTokenizer _tokenizer;
    private readonly HashSet<int> _knownIds;
    private readonly NormalizationForm? _normalization;

    private HuggingFaceBpeTokenizer(HuggingFaceBpeDefinition definition, string source)
    {
        _normalization = definition.Normalization;
        _knownIds = definition.Vocabulary.Values.Concat(definition.AddedTokens.Values).ToHashSet();
        // The reader bounds ids (TokenizerFileLimits.MaxTokenId), so the largest id plus one cannot overflow.
        VocabularySize = _knownIds.Count == 0 ? 0 : checked(_knownIds.Max() + 1);
        PadTokenId = definition.PadTokenId;
        BosTokenId = definition.BosTokenId;
        EosTokenId = definition.EosTokenId;

        // Added tokens are cut out whole by the pre-tokenizer, and the rest is split with the GPT-2 pattern
        // that Hugging Face's ByteLevel pre-tokenizer applies. The pre-tokenizer tries added tokens in dictionary
        // order and takes the first that matches, whereas Hugging Face takes the longest (GPT-NeoX has added
        // tokens for runs of 2 to 24 spaces), so longer tokens are put first.
        var addedTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in definition.AddedTokens.OrderByDescending(item => item.Key.Length).ThenBy(item => item.Key, StringComparer.Ordinal))
        {
            addedTokens.Add(token, id);
        }

        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges,
            ByteLevel = true,
            SpecialTokens = addedTokens,
            PreTokenizer = new RegexPreTokenizer(Gpt2Pattern(), addedTokens),
        };
        try
        {
            _tokenizer = BpeTokenizer.Create(options);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            // Merges naming tokens the vocabulary lacks, for example: the files are at fault, not the caller.
            throw new InvalidDataException($"The tokenizer in '{source}' cannot be built: {e.Message}", e);
        }
    }

    /// <summary>Builds the tokenizer from a <c>tokenizer.json</c> file or a directory of Hugging Face tokenizer files.</summary>
    public static HuggingFaceBpeTokenizer Load(string pathOrDirectory) =>
        Load(TokenizerFileSource.FromPath(pathOrDirectory), TokenizerFileLimits.Default);

    /// <summary>Builds the tokenizer from <paramref name="files"/> within <paramref name="limits"/>.</summary>
    public static HuggingFaceBpeTokenizer Load(TokenizerFileSource files, TokenizerFileLimits limits) =>
        new(HuggingFaceTokenizerReader.Read(files, limits), files.Description);

    /// <inheritdoc />
    public int VocabularySize { get; }

    /// <inheritdoc />
    public int? PadTokenId { get; }

    /// <inheritdoc />
    public int? BosTokenId { get; }

    /// <inheritdoc />
    public int? EosTokenId { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }

        if (_normalization is { } form)
        {
            text = text.Normalize(form);
        }

        return _tokenizer.EncodeToIds(text);
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);

        // The underlying decoder silently drops unknown ids; the interface promises an error instead.
        var list = ids as IReadOnlyList<int> ?? ids.ToList();
        foreach (int id in list)
        {
            if (!_knownIds.Contains(id))
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the vocabulary (size {VocabularySize}).");
            }
        }

        return _tokenizer.Decode(list, considerSpecialTokens: true);
    }

    // The split pattern of GPT-2's byte-level pre-tokenizer: contractions, letter runs, digit runs, other symbols,
    // each optionally preceded by one space, and whitespace runs.
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex Gpt2Pattern();
}
