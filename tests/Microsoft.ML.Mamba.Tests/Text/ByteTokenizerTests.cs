using System.Text;
using Microsoft.ML.Mamba.Text;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Text;

public class ByteTokenizerTests
{
    private readonly IMambaTokenizer _tokenizer = MambaTokenizers.Bytes();

    [Fact]
    public void IdsAreUtf8Bytes()
    {
        Assert.Equal([0x68, 0xC3, 0xA9, 0xF0, 0x9F, 0x90, 0x8D], _tokenizer.Encode("hé🐍"));
        Assert.Empty(_tokenizer.Encode(""));
    }

    [Fact]
    public void SizeAndSpecialIds()
    {
        Assert.Equal(259, _tokenizer.VocabularySize);
        Assert.Equal(256, _tokenizer.PadTokenId);
        Assert.Equal(257, _tokenizer.BosTokenId);
        Assert.Equal(258, _tokenizer.EosTokenId);
    }

    [Theory]
    [InlineData("plain ascii")]
    [InlineData("Grüße aus Köln, 🐍👩‍👩‍👧 日本語 — ∑x²!\r\n\tend  ")]
    [InlineData("\0 control \u0001 chars")]
    public void RoundTrips(string text)
    {
        Assert.Equal(text, _tokenizer.Decode(_tokenizer.Encode(text)));
    }

    [Fact]
    public void SpecialIdsDecodeAsMarkersBetweenIntactCharacters()
    {
        var ids = new List<int> { 257 };
        ids.AddRange(Encoding.UTF8.GetBytes("é").Select(b => (int)b));
        ids.AddRange([256, 258]);
        Assert.Equal("<bos>é<pad><eos>", _tokenizer.Decode(ids));
    }

    [Fact]
    public void InvalidUtf8BecomesReplacementCharacters()
    {
        Assert.Equal("\uFFFD", _tokenizer.Decode([0xFF]));
        Assert.Equal("\uFFFDA", _tokenizer.Decode([0xF0, 0x9F, 0x41]));
        Assert.Equal("a\uFFFD<eos>", _tokenizer.Decode([0x61, 0xC3, 258]));
    }

    [Theory]
    [InlineData(259)]
    [InlineData(-1)]
    public void DecodingAnIdOutsideTheVocabularyNamesIt(int id)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => _tokenizer.Decode([65, id]));
        Assert.Contains(id.ToString(), error.Message);
    }

    [Fact]
    public void NullArgumentsAreNamed()
    {
        Assert.Equal("text", Assert.Throws<ArgumentNullException>(() => _tokenizer.Encode(null!)).ParamName);
        Assert.Equal("ids", Assert.Throws<ArgumentNullException>(() => _tokenizer.Decode(null!)).ParamName);
    }
}
