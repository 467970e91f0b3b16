using System.Text;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Text;
using Xunit;
using static Microsoft.ML.Mamba.Tests.Text.TinyByteLevelBpeFiles;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>Hostile Hugging Face tokenizer files fail with InvalidDataException naming the file, never inside libtorch or by exhausting memory.</summary>
public class TokenizerFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string TokenizerJson(string vocab, string merges = "[]", string added = "[]") =>
        """{"added_tokens":""" + added + ""","pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":""" + vocab + ""","merges":""" + merges + "}}";

    private static Dictionary<string, byte[]> InMemory(string tokenizerJson) => new() { ["tokenizer.json"] = Encoding.UTF8.GetBytes(tokenizerJson) };

    private static InvalidDataException RefusedBoth(TempDirectory temp, byte[] tokenizerJson)
    {
        string path = temp.File("tokenizer.json");
        File.WriteAllBytes(path, tokenizerJson);
        var fromDisk = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFace(path));
        Assert.Contains(path, fromDisk.Message);
        var fromMemory = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFaceFiles(new Dictionary<string, byte[]> { ["tokenizer.json"] = tokenizerJson }));
        Assert.Contains("'tokenizer.json'", fromMemory.Message);
        return fromMemory;
    }

    [Fact]
    public void InMemoryFilesGiveTheSameTokenizerAsTheDirectory()
    {
        WriteTokenizerJson(_temp.Path);
        File.WriteAllText(_temp.File("tokenizer_config.json"), """{"bos_token":"<|padding|>","eos_token":{"content":"<|endoftext|>"}}""");
        var fromDisk = MambaTokenizers.FromHuggingFace(_temp.Path);
        var files = Directory.GetFiles(_temp.Path).ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);
        var fromMemory = MambaTokenizers.FromHuggingFaceFiles(files);

        Assert.Equal((fromDisk.VocabularySize, fromDisk.PadTokenId, fromDisk.BosTokenId, fromDisk.EosTokenId),
            (fromMemory.VocabularySize, fromMemory.PadTokenId, fromMemory.BosTokenId, fromMemory.EosTokenId));
        Assert.Equal(Padding, fromMemory.BosTokenId);
        const string text = "hello<|endoftext|> world, Grüße 🐍";
        Assert.Equal(fromDisk.Encode(text), fromMemory.Encode(text));
        Assert.Equal(text, fromMemory.Decode(fromMemory.Encode(text)));
    }

    [Fact]
    public void InMemoryVocabAndMergesFormWorks()
    {
        WriteVocabAndMerges(_temp.Path);
        var files = Directory.GetFiles(_temp.Path).ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);
        var tokenizer = MambaTokenizers.FromHuggingFaceFiles(files);
        Assert.Equal([Hello, EndOfText, SpaceWorld], tokenizer.Encode("hello<|endoftext|> world"));
    }

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("../tokenizer.json")]
    [InlineData("sub/tokenizer.json")]
    [InlineData("TOKENIZER.JSON")]
    public void UnknownInMemoryFileNamesAreRefused(string name)
    {
        var files = InMemory(TokenizerJson("""{"a":0}"""));
        files[name] = [];
        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFaceFiles(files));
        Assert.Contains(name, error.Message);
    }

    [Fact]
    public void InMemoryFilesWithoutATokenizerAreRefused()
    {
        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFaceFiles(
            new Dictionary<string, byte[]> { ["vocab.json"] = "{}"u8.ToArray() }));
        Assert.Contains("merges.txt", error.Message);
        Assert.Throws<ArgumentNullException>(() => MambaTokenizers.FromHuggingFaceFiles(null!));
    }

    [Theory]
    [InlineData("2147483647")]    // int.MaxValue: VocabularySize would overflow to -2^31
    [InlineData("-1")]
    [InlineData("16777216")]      // 2^24, one past the largest id allowed
    [InlineData("2147483648")]    // beyond int
    [InlineData("1e300")]
    [InlineData("0.5")]
    public void VocabularyIdsOutsideTheBoundAreRefused(string id)
    {
        var error = RefusedBoth(_temp, Encoding.UTF8.GetBytes(TokenizerJson($$"""{"a":0,"b":{{id}}}""")));
        Assert.Contains("16,777,215", error.Message);
    }

    [Fact]
    public void TheLargestAllowedIdGivesAnExactVocabularySize()
    {
        var tokenizer = MambaTokenizers.FromHuggingFaceFiles(InMemory(TokenizerJson("""{"a":0,"b":16777215}""")));
        Assert.Equal(1 << 24, tokenizer.VocabularySize);
    }

    [Theory]
    [InlineData("""[{"id":2147483647,"content":"<x>"}]""")]
    [InlineData("""[{"id":-5,"content":"<x>"}]""")]
    [InlineData("""[{"id":3,"content":"<x>"},{"id":4,"content":"<x>"}]""")]   // one token, two ids
    public void AddedTokenIdsAreBoundedAndConsistent(string added)
    {
        RefusedBoth(_temp, Encoding.UTF8.GetBytes(TokenizerJson("""{"a":0}""", added: added)));
    }

    [Fact]
    public void AddedTokensDecoderIdsAreBounded()
    {
        var files = InMemory(TokenizerJson("""{"a":0}"""));
        files["tokenizer_config.json"] = """{"added_tokens_decoder":{"2147483647":{"content":"<x>"}}}"""u8.ToArray();
        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFaceFiles(files));
        Assert.Contains("tokenizer_config.json", error.Message);
    }

    [Theory]
    [InlineData("""{"a":0,"b":0}""", "share id 0")]
    [InlineData("""{"a":0,"a":1}""", "ids 0 and 1")]
    public void DuplicateVocabularyIdsAreRefused(string vocab, string reason)
    {
        var error = RefusedBoth(_temp, Encoding.UTF8.GetBytes(TokenizerJson(vocab)));
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void DeeplyNestedJsonIsRefused()
    {
        string deep = new string('[', 100_000) + new string(']', 100_000);
        RefusedBoth(_temp, Encoding.UTF8.GetBytes(TokenizerJson("""{"a":0}""", added: deep)));
    }

    [Fact]
    public void TruncatedJsonIsRefused()
    {
        string path = WriteTokenizerJson(_temp.Path);
        var bytes = File.ReadAllBytes(path);
        RefusedBoth(_temp, bytes[..(bytes.Length / 2)]);
    }

    [Fact]
    public void BytesThatAreNotUtf8AreRefused()
    {
        var bytes = Encoding.UTF8.GetBytes(TokenizerJson("""{"a":0,"XX":1}"""));
        int at = Encoding.UTF8.GetString(bytes).IndexOf("XX", StringComparison.Ordinal);
        bytes[at] = 0xFF;
        bytes[at + 1] = 0xFE;
        var error = RefusedBoth(_temp, bytes);
        Assert.Contains("UTF-8", error.Message);
    }

    [Fact]
    public void AnEscapedLoneSurrogateIsRefused()
    {
        RefusedBoth(_temp, Encoding.UTF8.GetBytes(TokenizerJson("""{"a":0,"\ud800":1}""")));
    }

    [Fact]
    public void MergesTxtThatIsNotUtf8IsRefused()
    {
        WriteVocabAndMerges(_temp.Path);
        File.WriteAllBytes(_temp.File("merges.txt"), [(byte)'h', (byte)' ', 0xC3]);
        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFace(_temp.Path));
        Assert.Contains(_temp.File("merges.txt"), error.Message);
    }

    [Fact]
    public void AFileOverTheSizeCapIsRefusedBeforeItIsRead()
    {
        // A sparse 100 MB file: its length is checked against the 64 MiB cap before a byte is read or allocated.
        string path = _temp.File("tokenizer.json");
        using (var stream = new FileStream(path, FileMode.Create)) stream.SetLength(100L << 20);
        var error = Assert.Throws<InvalidDataException>(() => MambaTokenizers.FromHuggingFace(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("67,108,864", error.Message);
    }

    [Fact]
    public void TheSizeCapAppliesInMemoryToo()
    {
        var files = InMemory(TokenizerJson("""{"a":0}"""));
        files["special_tokens_map.json"] = Encoding.UTF8.GetBytes("{\"pad\":\"" + new string('x', 2000) + "\"}");
        var limits = TokenizerFileLimits.Default with { MaxFileBytes = 1000 };
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceBpeTokenizer.Load(TokenizerFileSource.FromMemory(files), limits));
        Assert.Contains("special_tokens_map.json", error.Message);
        HuggingFaceBpeTokenizer.Load(TokenizerFileSource.FromMemory(InMemory(TokenizerJson("""{"a":0}"""))), limits);
    }

    [Fact]
    public void AStreamWithoutALengthIsCutAtTheCap()
    {
        var error = Assert.Throws<InvalidDataException>(() => TokenizerFileSource.ReadCapped(new EndlessStream(), "tokenizer.json", 1 << 20));
        Assert.Contains("tokenizer.json", error.Message);
    }

    [Fact]
    public void MergeCountIsBounded()
    {
        var limits = TokenizerFileLimits.Default with { MaxMerges = 2 };
        var json = InMemory(TokenizerJson("""{"a":0,"b":1,"ab":2,"aa":3,"bb":4}""", merges: """["a b","a a","b b"]"""));
        Assert.Throws<InvalidDataException>(() => HuggingFaceBpeTokenizer.Load(TokenizerFileSource.FromMemory(json), limits));

        var pair = new Dictionary<string, byte[]>
        {
            ["vocab.json"] = """{"a":0,"b":1,"ab":2,"aa":3,"bb":4}"""u8.ToArray(),
            ["merges.txt"] = "a b\na a\nb b\n"u8.ToArray(),
        };
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceBpeTokenizer.Load(TokenizerFileSource.FromMemory(pair), limits));
        Assert.Contains("merges.txt", error.Message);
        HuggingFaceBpeTokenizer.Load(TokenizerFileSource.FromMemory(pair), TokenizerFileLimits.Default);
    }

    /// <summary>A stream with no length that never ends.</summary>
    private sealed class EndlessStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) { Array.Fill(buffer, (byte)' ', offset, count); return count; }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
