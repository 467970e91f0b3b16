using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.LanguageModeling;

public class TokenBlocksTests
{
    [Fact]
    public void BlocksOverlapByOneSoEveryTokenAfterTheFirstIsATargetOnce()
    {
        var blocks = TokenBlocks.FromTokens(Enumerable.Range(0, 10).ToArray(), 4);
        Assert.Equal(3, blocks.Count);
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, blocks[0].ToArray());
        Assert.Equal(new[] { 4, 5, 6, 7, 8 }, blocks[1].ToArray());
        Assert.Equal(new[] { 8, 9 }, blocks[2].ToArray());
        var targets = Enumerable.Range(0, blocks.Count).SelectMany(i => blocks[i].ToArray().Skip(1)).ToArray();
        Assert.Equal(Enumerable.Range(1, 9), targets);
    }

    [Fact]
    public void TextsAreJoinedWithEndOfSequenceAndSplitAtABlockBoundary()
    {
        var bytes = MambaTokenizers.Bytes();
        var blocks = TokenBlocks.FromTexts(["ab", "", "cd"], bytes, 2);
        Assert.Equal(6, blocks.TokenCount);   // a b <eos> c d <eos>
        Assert.Equal(new[] { (int)bytes.EosTokenId!, 'c', 'd' }, blocks[1].ToArray());
        var (train, validation) = TokenBlocks.FromTokens(Enumerable.Range(0, 101).ToArray(), 10).Split(0.2);
        Assert.Equal(81, train.TokenCount);      // 0..80: targets 1..80
        Assert.Equal(21, validation.TokenCount); // 80..100: targets 81..100
        Assert.Equal(8, train.Count);
    }
}
