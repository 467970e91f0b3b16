using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Tests.Infrastructure;

namespace Microsoft.ML.Mamba.Tests.LanguageModeling.Pretraining;

public class PackedTokenFileTests
{
    [Theory]
    [InlineData(259, 2)]        // fits uint16
    [InlineData(65_536, 2)]     // the largest vocabulary uint16 holds
    [InlineData(65_537, 4)]     // needs int32
    [InlineData(200_000, 4)]
    public void TokensRoundTripExactly(int vocabulary, int bytesPerToken)
    {
        using var folder = new TempDirectory();
        var random = new Random(vocabulary);
        var ids = Enumerable.Range(0, 5_000).Select(_ => random.Next(vocabulary)).Append(vocabulary - 1).Append(0).ToArray();
        string path = folder.File("t.tokens");
        using (var writer = new PackedTokenWriter(path, vocabulary, "test/ü"))
        {
            writer.Append(ids[..1234]);
            writer.Append(ids[1234..]);
            writer.Complete();
        }
        Assert.Equal(256 + ids.Length * bytesPerToken, new FileInfo(path).Length);
        using var file = PackedTokenFile.Open(path);
        Assert.Equal(bytesPerToken, file.BytesPerToken);
        Assert.Equal(vocabulary, file.VocabularySize);
        Assert.Equal(ids.Length, file.TokenCount);
        Assert.Equal("test/ü", file.TokenizerIdentity);
        var all = new int[ids.Length];
        file.Read(0, all);
        Assert.Equal(ids, all);
        var middle = new int[17];
        file.Read(999, middle);
        Assert.Equal(ids[999..1016], middle);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.Read(ids.Length - 3, new int[4]));
    }

    [Fact]
    public void AnIdOutsideTheVocabularyIsRefusedWhenWritten()
    {
        using var folder = new TempDirectory();
        using var writer = new PackedTokenWriter(folder.File("t.tokens"), 259, "bytes/259");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => writer.Append([1, 259]));
        Assert.Contains("259", e.Message);
    }

    [Fact]
    public void ATruncatedOrForeignFileIsRefused()
    {
        using var folder = new TempDirectory();
        string path = folder.File("t.tokens");
        using (var writer = new PackedTokenWriter(path, 259, "bytes/259"))
        {
            writer.Append([1, 2, 3, 4]);
            writer.Complete();
        }
        using (var stream = File.OpenWrite(path)) stream.SetLength(stream.Length - 1);
        Assert.Contains("header promises 4 tokens", Assert.Throws<InvalidDataException>(() => PackedTokenFile.Open(path)).Message);
        File.WriteAllBytes(path, new byte[300]);
        Assert.Contains("MAMBATOK", Assert.Throws<InvalidDataException>(() => PackedTokenFile.Open(path)).Message);
        Assert.Throws<FileNotFoundException>(() => PackedTokenFile.Open(folder.File("missing.tokens")));
    }

    [Fact]
    public void BatchesAreWindowsOfTheFileThatDependOnlyOnSeedAndIndex()
    {
        using var folder = new TempDirectory();
        string path = folder.File("t.tokens");
        var ids = Enumerable.Range(0, 1000).Select(i => i % 251).ToArray();   // each window is recognisable by its first id
        using (var writer = new PackedTokenWriter(path, 259, "bytes/259"))
        {
            writer.Append(ids);
            writer.Complete();
        }
        using var file = PackedTokenFile.Open(path);
        var blocks = new PackedTokenBlocks(file, blockLength: 8, batchSize: 4, seed: 3);
        var batch = blocks.Batch(5);
        Assert.Equal(4 * 9, batch.Length);
        for (int row = 0; row < 4; row++)
            for (int t = 1; t < 9; t++)
                Assert.Equal((batch[row * 9] + t) % 251, batch[row * 9 + t]);   // contiguous tokens of the file
        Assert.Equal(batch, new PackedTokenBlocks(file, 8, 4, 3).Batch(5));
        Assert.NotEqual(batch, blocks.Batch(6));
        Assert.NotEqual(batch, new PackedTokenBlocks(file, 8, 4, 4).Batch(5));
        Assert.Throws<ArgumentException>(() => new PackedTokenBlocks(file, 1000, 1, 0));
    }
}
