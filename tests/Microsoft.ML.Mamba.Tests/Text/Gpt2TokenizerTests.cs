using Microsoft.ML.Mamba.Text;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Text;

public class Gpt2TokenizerTests
{
    private static readonly IMambaTokenizer Tokenizer = MambaTokenizers.Gpt2();

    [Fact]
    public void EncodesHelloWorldLikeOpenAiGpt2()
    {
        Assert.Equal([15496, 995], Tokenizer.Encode("Hello world"));
    }

    [Fact]
    public void HasGpt2SizeAndSpecialIds()
    {
        Assert.Equal(50257, Tokenizer.VocabularySize);
        Assert.Equal(50256, Tokenizer.EosTokenId);
        Assert.Equal(50256, Tokenizer.BosTokenId);
        Assert.Null(Tokenizer.PadTokenId);
        Assert.Equal("<|endoftext|>", Tokenizer.Decode([50256]));
    }

    [Theory]
    [InlineData("Grüße aus Köln, 🐍👩‍👩‍👧 日本語 — ∑x²!\r\n\tend  ")]
    [InlineData("   many    spaces   ")]
    [InlineData("emoji only 🚀🚀🚀")]
    public void RoundTripsUnicode(string text)
    {
        var ids = Tokenizer.Encode(text);
        Assert.All(ids, id => Assert.InRange(id, 0, 50255));
        Assert.Equal(text, Tokenizer.Decode(ids));
    }

    [Fact]
    public void EmptyAndNullText()
    {
        Assert.Empty(Tokenizer.Encode(""));
        Assert.Equal("text", Assert.Throws<ArgumentNullException>(() => Tokenizer.Encode(null!)).ParamName);
    }

    [Theory]
    [InlineData(50257)]
    [InlineData(-1)]
    public void DecodingAnIdOutsideTheVocabularyNamesIt(int id)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode([15496, id]));
        Assert.Contains(id.ToString(), error.Message);
    }
}
