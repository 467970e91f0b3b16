// TEMPORARY (branch mlnet only): the announced tokenizer interface, until branch text lands on main.
// Deleted in that merge in favour of the text engineer's files.
using System.Text;

namespace Microsoft.ML.Mamba.Text;

public interface IMambaTokenizer
{
    int VocabularySize { get; }
    int? PadTokenId { get; }
    int? BosTokenId { get; }
    int? EosTokenId { get; }
    IReadOnlyList<int> Encode(string text);
    string Decode(IEnumerable<int> ids);
}

public static class MambaTokenizers
{
    public static IMambaTokenizer Bytes() => new PendingByteTokenizer();
    public static IMambaTokenizer Gpt2() => throw new NotSupportedException("The GPT-2 tokenizer arrives with branch text.");
    public static IMambaTokenizer FromHuggingFace(string path) => throw new NotSupportedException("Hugging Face tokenizers arrive with branch text.");

    private sealed class PendingByteTokenizer : IMambaTokenizer
    {
        public int VocabularySize => 259;
        public int? PadTokenId => 0;
        public int? BosTokenId => 1;
        public int? EosTokenId => 2;
        public IReadOnlyList<int> Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => b + 3).ToArray();
        public string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(ids.Where(i => i >= 3).Select(i => (byte)(i - 3)).ToArray());
    }
}
