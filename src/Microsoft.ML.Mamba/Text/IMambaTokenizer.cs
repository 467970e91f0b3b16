namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// Turns text into token ids and back. This is the only tokenizer surface the rest of the library depends on;
/// obtain instances from <see cref="MambaTokenizers"/>.
/// </summary>
public interface IMambaTokenizer
{
    /// <summary>The size of the id space (largest id + 1), which is what an embedding table must be sized for.</summary>
    int VocabularySize { get; }

    /// <summary>The id used to pad batches, or null when the tokenizer has none.</summary>
    int? PadTokenId { get; }

    /// <summary>The id that marks the beginning of a sequence, or null when the tokenizer has none.</summary>
    int? BosTokenId { get; }

    /// <summary>The id that marks the end of a sequence, or null when the tokenizer has none.</summary>
    int? EosTokenId { get; }

    /// <summary>Encodes text into token ids without adding any special tokens.</summary>
    /// <param name="text">The text; empty text gives an empty list.</param>
    /// <returns>The token ids.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    IReadOnlyList<int> Encode(string text);

    /// <summary>Decodes token ids into text, special tokens included.</summary>
    /// <param name="ids">The token ids.</param>
    /// <returns>The text. Byte sequences that are not valid UTF-8 become U+FFFD replacement characters.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary; the message names it.</exception>
    string Decode(IEnumerable<int> ids);
}
