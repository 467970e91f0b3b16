using System.Text;

namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// A tokenizer that needs no data: each UTF-8 byte is its own id (0 to 255), followed by three special ids
/// for padding (256), beginning (257) and end (258) of sequence.
/// </summary>
internal sealed class ByteTokenizer : IMambaTokenizer
{
    private const int ByteCount = 256;
    private const int PadId = 256;
    private const int BosId = 257;
    private const int EosId = 258;

    // How the special ids read when decoded; encoding these strings gives their bytes, not the special ids.
    private static readonly string[] SpecialText = ["<pad>", "<bos>", "<eos>"];

    /// <inheritdoc />
    public int VocabularySize => ByteCount + SpecialText.Length;

    /// <inheritdoc />
    public int? PadTokenId => PadId;

    /// <inheritdoc />
    public int? BosTokenId => BosId;

    /// <inheritdoc />
    public int? EosTokenId => EosId;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            ids[i] = bytes[i];
        }

        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var pending = new List<byte>();
        foreach (int id in ids)
        {
            if (id is >= 0 and < ByteCount)
            {
                pending.Add((byte)id);
                continue;
            }

            if (id < 0 || id >= VocabularySize)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the byte tokenizer's vocabulary (0 to {VocabularySize - 1}).");
            }

            // Bytes are decoded together so that multi-byte characters survive; the default UTF-8 decoder
            // replaces invalid sequences with U+FFFD.
            Flush(pending, text);
            text.Append(SpecialText[id - ByteCount]);
        }

        Flush(pending, text);
        return text.ToString();
    }

    private static void Flush(List<byte> pending, StringBuilder text)
    {
        if (pending.Count > 0)
        {
            text.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending)));
            pending.Clear();
        }
    }
}
