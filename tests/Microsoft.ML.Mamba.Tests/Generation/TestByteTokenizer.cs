using System.Text;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.Generation;

/// <summary>UTF-8 bytes as ids 0..255 plus an end-of-sequence id 256: multi-byte characters span several tokens.</summary>
internal sealed class TestByteTokenizer : IMambaTokenizer
{
    public const int Eos = 256;
    public int VocabularySize => 257;
    public int? PadTokenId => null;
    public int? BosTokenId => null;
    public int? EosTokenId => Eos;
    public IReadOnlyList<int> Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    public string Decode(IEnumerable<int> ids) =>
        Encoding.UTF8.GetString(ids.Where(i => i != Eos).Select(i => (byte)i).ToArray());
}
