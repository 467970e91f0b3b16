using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Mamba.Tests.Text;

/// <summary>
/// Writes a small byte-level BPE tokenizer in Hugging Face's formats. Ids 0-255 are the bytes, 256-264 the results
/// of nine merges that build "hello" and " world", 265 is &lt;|endoftext|&gt; and 266 is &lt;|padding|&gt; (added tokens).
/// </summary>
internal static class TinyByteLevelBpeFiles
{
    public const int Hello = 259;
    public const int SpaceWorld = 264;
    public const int Or = 261;
    public const int Ld = 263;
    public const int EndOfText = 265;
    public const int Padding = 266;

    public static readonly string[] Merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];

    /// <summary>GPT-2's reversible byte-to-character table: printable bytes stand for themselves, the rest move above U+0100.</summary>
    public static char ByteToChar(int value)
    {
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            char c = printable ? (char)b : (char)(256 + shifted++);
            if (b == value)
            {
                return c;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(value));
    }

    public static Dictionary<string, int> Vocabulary()
    {
        var vocabulary = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
        {
            vocabulary[ByteToChar(b).ToString()] = b;
        }

        foreach (string merge in Merges)
        {
            vocabulary[merge.Replace(" ", "")] = vocabulary.Count;
        }

        return vocabulary;
    }

    /// <summary>Writes tokenizer.json; merges as "a b" strings or, like newer files, as ["a", "b"] pairs.</summary>
    /// <param name="directory">Where to write it.</param>
    /// <param name="mergesAsPairs">Whether merges are written as pairs.</param>
    /// <param name="normalizer">The normalizer's JSON.</param>
    /// <param name="extraAddedTokens">More added tokens (ids from 267 up), written first, such as GPT-NeoX's space runs.</param>
    public static string WriteTokenizerJson(string directory, bool mergesAsPairs = false, string normalizer = """{"type":"NFC"}""", string[]? extraAddedTokens = null)
    {
        var json = new StringBuilder();
        json.Append("""{"version":"1.0","truncation":null,"padding":null,"added_tokens":[""");
        int extraId = Padding + 1;
        foreach (string token in extraAddedTokens ?? [])
        {
            json.Append($$"""{"id":{{extraId++}},"content":{{JsonSerializer.Serialize(token)}},"single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false},""");
        }

        json.Append($$"""{"id":{{EndOfText}},"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},""");
        json.Append($$"""{"id":{{Padding}},"content":"<|padding|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],""");
        json.Append($$"""
            "normalizer":{{normalizer}},
            "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
            "post_processor":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
            "decoder":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
            "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,
                     "fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
            """);
        json.Append("\"vocab\":").Append(JsonSerializer.Serialize(Vocabulary())).Append(',');
        object merges = mergesAsPairs ? Merges.Select(m => m.Split(' ')).ToArray() : Merges;
        json.Append("\"merges\":").Append(JsonSerializer.Serialize(merges)).Append("}}");

        string path = Path.Combine(directory, "tokenizer.json");
        File.WriteAllText(path, json.ToString());
        return path;
    }

    /// <summary>Writes the older vocab.json + merges.txt pair, with the added tokens in added_tokens.json.</summary>
    public static void WriteVocabAndMerges(string directory)
    {
        File.WriteAllText(Path.Combine(directory, "vocab.json"), JsonSerializer.Serialize(Vocabulary()));
        File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n" + string.Join("\n", Merges) + "\n");
        File.WriteAllText(Path.Combine(directory, "added_tokens.json"),
            JsonSerializer.Serialize(new Dictionary<string, int> { ["<|endoftext|>"] = EndOfText, ["<|padding|>"] = Padding }));
    }
}
