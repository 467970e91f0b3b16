using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Mamba.Text;

/// <summary>Adapts a Microsoft.ML.Tokenizers <see cref="TiktokenTokenizer"/> (for example GPT-2's) to <see cref="IMambaTokenizer"/>.</summary>
internal sealed class TiktokenMambaTokenizer : IMambaTokenizer
{
    private readonly TiktokenTokenizer _tokenizer;
    private readonly HashSet<int> _specialIds;

    /// <summary>Wraps <paramref name="tokenizer"/>.</summary>
    /// <param name="tokenizer">The tiktoken tokenizer.</param>
    /// <param name="ordinaryTokenCount">How many ordinary (mergeable) tokens it has; they use ids 0 to this minus one.</param>
    /// <param name="endOfTextToken">The special token used as both beginning and end of sequence, if any.</param>
    public TiktokenMambaTokenizer(TiktokenTokenizer tokenizer, int ordinaryTokenCount, string? endOfTextToken)
    {
        _tokenizer = tokenizer;
        _specialIds = tokenizer.SpecialTokens?.Values.ToHashSet() ?? [];
        OrdinaryTokenCount = ordinaryTokenCount;
        VocabularySize = Math.Max(ordinaryTokenCount, _specialIds.Count == 0 ? 0 : _specialIds.Max() + 1);
        if (endOfTextToken is not null && tokenizer.SpecialTokens is not null && tokenizer.SpecialTokens.TryGetValue(endOfTextToken, out int id))
        {
            BosTokenId = id;
            EosTokenId = id;
        }
    }

    private int OrdinaryTokenCount { get; }

    /// <inheritdoc />
    public int VocabularySize { get; }

    /// <inheritdoc />
    public int? PadTokenId => null;

    /// <inheritdoc />
    public int? BosTokenId { get; }

    /// <inheritdoc />
    public int? EosTokenId { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length == 0 ? [] : _tokenizer.EncodeToIds(text);
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);

        // The underlying decoder silently drops unknown ids; the interface promises an error instead.
        var list = ids as IReadOnlyList<int> ?? ids.ToList();
        foreach (int id in list)
        {
            if ((id < 0 || id >= OrdinaryTokenCount) && !_specialIds.Contains(id))
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary (size {VocabularySize}).");
            }
        }

        return _tokenizer.Decode(list);
    }
}
