using System.Text;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Text;
using Xunit;
using static Microsoft.ML.Mamba.Tests.Text.TinyByteLevelBpeFiles;

namespace Microsoft.ML.Mamba.Tests.Text;

public class HuggingFaceBpeTokenizerTests : IDisposable
{
    private static readonly string[] Samples =
    [
        "hello world",
        "hellohello world world",
        "Grüße aus Köln, 🐍👩‍👩‍👧 日本語 — ∑x²!\r\n\tend  ",
        "say <|endoftext|>hello<|padding|><|padding|> world",
        "   leading and trailing   ",
        "it's, we'll; they'd 12345 🚀🚀",
    ];

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EncodesWithMergesAndAddedTokens(bool mergesAsPairs)
    {
        WriteTokenizerJson(_temp.Path, mergesAsPairs);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        Assert.Equal([Hello, SpaceWorld], tokenizer.Encode("hello world"));
        Assert.Equal([Hello, Hello], tokenizer.Encode("hellohello"));
        Assert.Equal(['w', Or, Ld], tokenizer.Encode("world"));
        Assert.Equal([Hello, EndOfText, SpaceWorld, Padding], tokenizer.Encode("hello<|endoftext|> world<|padding|>"));
        Assert.Equal([0xF0, 0x9F, 0x90, 0x8D], tokenizer.Encode("🐍"));
        Assert.Empty(tokenizer.Encode(""));
    }

    [Fact]
    public void LongestAddedTokenWinsLikeHuggingFace()
    {
        // Written shortest first, so a first-match search would split four spaces into two pairs.
        WriteTokenizerJson(_temp.Path, extraAddedTokens: ["  ", "    "]);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        Assert.Equal(['a', 268, 'b', 268, 267, 'c'], tokenizer.Encode("a    b      c"));
        Assert.Equal("a    b      c", tokenizer.Decode(tokenizer.Encode("a    b      c")));
    }

    [Fact]
    public void SpecialTokenThatLivesInVocabJsonIsMatchedWhole()
    {
        WriteVocabAndMerges(_temp.Path);
        File.Delete(_temp.File("added_tokens.json"));
        var vocabulary = Vocabulary();
        vocabulary["<|endoftext|>"] = vocabulary.Count;
        File.WriteAllText(_temp.File("vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocabulary));
        File.WriteAllText(_temp.File("special_tokens_map.json"), """{"eos_token":"<|endoftext|>"}""");

        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        Assert.Equal(265, tokenizer.EosTokenId);
        Assert.Equal([Hello, 265, SpaceWorld], tokenizer.Encode("hello<|endoftext|> world"));
        Assert.Null(tokenizer.PadTokenId);
    }

    [Fact]
    public void KnowsItsSizeAndSpecialIds()
    {
        string file = WriteTokenizerJson(_temp.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(file);

        Assert.Equal(267, tokenizer.VocabularySize);
        Assert.Equal(EndOfText, tokenizer.BosTokenId);
        Assert.Equal(EndOfText, tokenizer.EosTokenId);
        Assert.Equal(Padding, tokenizer.PadTokenId);
    }

    [Fact]
    public void ConfigurationFilesOverrideSpecialIds()
    {
        WriteTokenizerJson(_temp.Path);
        File.WriteAllText(_temp.File("tokenizer_config.json"), """{"bos_token":null,"pad_token":{"content":"<|endoftext|>"},"eos_token":"<|padding|>"}""");
        File.WriteAllText(_temp.File("special_tokens_map.json"), """{"eos_token":"<|endoftext|>"}""");

        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        Assert.Null(tokenizer.BosTokenId);
        Assert.Equal(EndOfText, tokenizer.PadTokenId);
        Assert.Equal(EndOfText, tokenizer.EosTokenId);
    }

    [Fact]
    public void ConfigurationNamingAnUnknownTokenIsAnError()
    {
        WriteTokenizerJson(_temp.Path);
        File.WriteAllText(_temp.File("special_tokens_map.json"), """{"eos_token":"</s>"}""");

        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFace(_temp.Path));
        Assert.Contains("</s>", error.Message);
    }

    [Fact]
    public void RoundTripsArbitraryUnicode()
    {
        WriteTokenizerJson(_temp.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        foreach (string text in Samples)
        {
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        }
    }

    [Fact]
    public void NormalizesToNfcBeforeEncoding()
    {
        WriteTokenizerJson(_temp.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);
        string decomposed = "e\u0301"; // e + combining acute accent, which NFC composes into U+00E9

        Assert.Equal(Encoding.UTF8.GetBytes("\u00E9").Select(b => (int)b), tokenizer.Encode(decomposed));
    }

    [Fact]
    public void VocabAndMergesFormMatchesTokenizerJsonForm()
    {
        using var jsonFolder = new TempDirectory();
        using var pairFolder = new TempDirectory();
        WriteTokenizerJson(jsonFolder.Path, normalizer: "null");
        WriteVocabAndMerges(pairFolder.Path);

        var fromJson = MambaTokenizers.FromHuggingFace(jsonFolder.Path);
        var fromPair = MambaTokenizers.FromHuggingFace(pairFolder.Path);

        Assert.Equal(fromJson.VocabularySize, fromPair.VocabularySize);
        Assert.Equal(fromJson.PadTokenId, fromPair.PadTokenId);
        Assert.Equal(fromJson.BosTokenId, fromPair.BosTokenId);
        Assert.Equal(fromJson.EosTokenId, fromPair.EosTokenId);
        foreach (string text in Samples)
        {
            var ids = fromJson.Encode(text);
            Assert.Equal(ids, fromPair.Encode(text));
            Assert.Equal(fromJson.Decode(ids), fromPair.Decode(ids));
        }
    }

    [Fact]
    public void DecodesSpecialTokensAndReplacesBrokenUtf8()
    {
        WriteTokenizerJson(_temp.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        Assert.Equal("hello<|endoftext|> world", tokenizer.Decode([Hello, EndOfText, SpaceWorld]));
        Assert.Equal("\uFFFD", tokenizer.Decode([0xF0, 0x9F]));
    }

    [Theory]
    [InlineData(267)]
    [InlineData(-1)]
    [InlineData(100_000)]
    public void DecodingAnIdOutsideTheVocabularyNamesIt(int id)
    {
        WriteTokenizerJson(_temp.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([Hello, id]));
        Assert.Contains(id.ToString(), error.Message);
    }

    [Fact]
    public void NullArgumentsAreNamed()
    {
        WriteTokenizerJson(_temp.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(_temp.Path);

        Assert.Equal("text", Assert.Throws<ArgumentNullException>(() => tokenizer.Encode(null!)).ParamName);
        Assert.Equal("ids", Assert.Throws<ArgumentNullException>(() => tokenizer.Decode(null!)).ParamName);
        Assert.Equal("pathOrDirectory", Assert.Throws<ArgumentNullException>(() => MambaTokenizers.FromHuggingFace(null!)).ParamName);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        string path = _temp.File("nowhere/tokenizer.json");
        var error = Assert.Throws<FileNotFoundException>(() => MambaTokenizers.FromHuggingFace(path));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void DirectoryWithoutTokenizerFilesIsNamed()
    {
        File.WriteAllText(_temp.File("vocab.json"), "{}"); // merges.txt is missing
        var error = Assert.Throws<FileNotFoundException>(() => MambaTokenizers.FromHuggingFace(_temp.Path));
        Assert.Contains(_temp.Path, error.Message);
    }

    [Theory]
    [InlineData("{ \"model\": ")]
    [InlineData("""{"version":"1.0"}""")]
    [InlineData("""{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":"zero"},"merges":[]}}""")]
    [InlineData("""{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}}""")]
    [InlineData("""{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"added_tokens":[{"content":"x"}]}""")]
    public void MalformedTokenizerJsonIsNamed(string json)
    {
        string path = _temp.File("tokenizer.json");
        File.WriteAllText(path, json);

        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFace(path));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void MalformedMergesTxtIsNamed()
    {
        WriteVocabAndMerges(_temp.Path);
        File.WriteAllText(_temp.File("merges.txt"), "#version: 0.2\nh e\nthree parts here\n");

        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFace(_temp.Path));
        Assert.Contains(_temp.File("merges.txt"), error.Message);
        Assert.Contains("line 3", error.Message);
    }

    [Theory]
    [InlineData("""{"pre_tokenizer":{"type":"Whitespace"},"model":{"type":"WordPiece","vocab":{"a":0}}}""", "WordPiece")]
    [InlineData("""{"pre_tokenizer":{"type":"Metaspace"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}""", "Metaspace")]
    [InlineData("""{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0},"merges":[]}}""", "byte_fallback")]
    [InlineData("""{"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":true},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}""", "add_prefix_space")]
    public void UnsupportedTokenizersAreRefusedByName(string json, string reason)
    {
        string path = _temp.File("tokenizer.json");
        File.WriteAllText(path, json);

        var error = Assert.Throws<NotSupportedException>(() => MambaTokenizers.FromHuggingFace(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(reason, error.Message);
    }
}
