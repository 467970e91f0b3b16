using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.LanguageModeling;

/// <summary>
/// A corpus prepared for causal language modelling: every text is tokenized, the texts are joined into one
/// stream (separated by the tokenizer's end-of-sequence id when it has one), and the stream is cut into
/// blocks of <c>BlockLength + 1</c> tokens that overlap by one, so each block gives <c>BlockLength</c>
/// next-token predictions and no prediction is lost between blocks. No padding is ever needed.
/// </summary>
public sealed class TokenBlocks
{
    private readonly int[] _stream;

    private TokenBlocks(int[] stream, int blockLength)
    {
        _stream = stream;
        BlockLength = blockLength;
        Count = stream.Length <= 1 ? 0 : (stream.Length - 2) / blockLength + 1;
    }

    /// <summary>Predictions per block (the model sees this many tokens at once).</summary>
    public int BlockLength { get; }

    /// <summary>Number of blocks; the last one may be shorter.</summary>
    public int Count { get; }

    /// <summary>Tokens in the joined stream.</summary>
    public int TokenCount => _stream.Length;

    /// <summary>Tokenizes and joins <paramref name="texts"/>; empty texts are skipped.</summary>
    public static TokenBlocks FromTexts(IEnumerable<string> texts, IMambaTokenizer tokenizer, int blockLength)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var stream = new List<int>();
        foreach (var text in texts)
        {
            if (string.IsNullOrEmpty(text)) continue;
            stream.AddRange(tokenizer.Encode(text));
            if (tokenizer.EosTokenId is int eos) stream.Add(eos);
        }
        return FromTokens(stream, blockLength);
    }

    /// <summary>Blocks over an already tokenized stream.</summary>
    public static TokenBlocks FromTokens(IReadOnlyList<int> stream, int blockLength)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (blockLength < 1) throw new ArgumentOutOfRangeException(nameof(blockLength), blockLength, "must be ≥ 1");
        return new TokenBlocks(stream.ToArray(), blockLength);
    }

    /// <summary>Block <paramref name="index"/>: its tokens, the last one only ever a target.</summary>
    public ReadOnlySpan<int> this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
            int start = index * BlockLength;
            return _stream.AsSpan(start, Math.Min(BlockLength + 1, _stream.Length - start));
        }
    }

    /// <summary>Splits off the last <paramref name="fraction"/> of the stream (whole blocks) for validation.</summary>
    public (TokenBlocks Train, TokenBlocks Validation) Split(double fraction)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must be in (0, 1)");
        int cut = (int)(_stream.Length * (1 - fraction)) / BlockLength * BlockLength;
        return (new TokenBlocks(_stream[..(cut + 1)], BlockLength), new TokenBlocks(_stream[cut..], BlockLength));
    }
}
