using Microsoft.ML;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.LanguageModeling.Pretraining;

public class PretrainingDataTests
{
    private static readonly IMambaTokenizer Bytes = MambaTokenizers.Bytes();

    private static string[] Documents(int count) =>
        Enumerable.Range(0, count).Select(i => $"document {i}: " + new string((char)('a' + i % 26), i % 37)).ToArray();

    private static int[] ReadAll(string path)
    {
        using var file = PackedTokenFile.Open(path);
        var ids = new int[file.TokenCount];
        file.Read(0, ids);
        return ids;
    }

    [Fact]
    public void ParallelTokenizationWritesWhatSequentialEncodingGives()
    {
        using var folder = new TempDirectory();
        var docs = Documents(3_000);
        var data = PretrainingData.Prepare(docs, Bytes, folder.Path, new PretrainingDataOptions { Workers = 4, ChunkSize = 7, HeldOutFraction = 0.1 });

        var train = new List<int>();
        var heldOut = new List<int>();
        for (int i = 0; i < docs.Length; i++)
        {
            var target = (i + 1) % 10 == 0 ? heldOut : train;
            target.AddRange(Bytes.Encode(docs[i]));
            target.Add(Bytes.EosTokenId!.Value);
        }
        Assert.Equal(train, ReadAll(data.TrainPath));
        Assert.Equal(heldOut, ReadAll(data.HeldOutPath));
        Assert.Equal(3_000, data.Documents);
        Assert.Equal(300, data.HeldOutDocuments);
        Assert.Equal(train.Count, data.TrainTokens);
        using var file = PackedTokenFile.Open(data.TrainPath);
        Assert.Equal(PretrainingData.TokenizerIdentity(Bytes), file.TokenizerIdentity);
    }

    [Fact]
    public void HeldOutDocumentsAreNotInTheTrainingFile()
    {
        using var folder = new TempDirectory();
        var data = PretrainingData.Prepare(Documents(500), Bytes, folder.Path, new PretrainingDataOptions { Workers = 2, HeldOutFraction = 0.05 });
        string[] Split(string path) => Bytes.Decode(ReadAll(path)).Split("<eos>", StringSplitOptions.RemoveEmptyEntries);
        var train = Split(data.TrainPath);
        var heldOut = Split(data.HeldOutPath);
        Assert.Equal(25, heldOut.Length);
        Assert.Equal(475, train.Length);
        Assert.Empty(train.Intersect(heldOut));
        Assert.Equal(Documents(500).Order(), train.Concat(heldOut).Order());
    }

    [Fact]
    public void TheReaderStaysABoundedDistanceAheadOfTheWriter()
    {
        // A corpus file far larger than what may be in flight: 40,000 lines, read lazily from disk.
        using var folder = new TempDirectory();
        string corpus = folder.File("corpus.txt");
        File.WriteAllLines(corpus, Enumerable.Range(0, 40_000).Select(i => $"line {i} of a corpus too large to hold"));
        const int workers = 2, chunk = 50;
        long pulled = 0, maxAhead = 0;
        var options = new PretrainingDataOptions
        {
            Workers = workers, ChunkSize = chunk, HeldOutFraction = 0,
            DocumentWritten = written => maxAhead = Math.Max(maxAhead, Interlocked.Read(ref pulled) - written),
        };
        var texts = PretrainingCorpus.ReadLines([corpus]).Select(t => { Interlocked.Increment(ref pulled); return t; });
        var data = PretrainingData.Prepare(texts, Bytes, folder.File("data"), options);
        Assert.Equal(40_000, data.Documents);
        // queue (2 x workers) + the chunk being filled + the one being written
        Assert.InRange(maxAhead, 1, (2 * workers + 2) * chunk);
    }

    [Fact]
    public void AFailingCorpusFailsPreparationInsteadOfHanging()
    {
        using var folder = new TempDirectory();
        IEnumerable<string> Broken()
        {
            for (int i = 0; i < 1000; i++) yield return "text " + i;
            throw new IOException("disk gone");
        }
        Assert.Equal("disk gone", Assert.Throws<IOException>(() => PretrainingData.Prepare(Broken(), Bytes, folder.Path, new PretrainingDataOptions { Workers = 2, ChunkSize = 10 })).Message);
        Assert.Throws<FileNotFoundException>(() => PretrainingCorpus.ReadLines([folder.File("nope.txt")]).ToList());
    }

    [Fact]
    public void FoldersAreReadInNameOrderAndDataViewColumnsByName()
    {
        using var folder = new TempDirectory();
        Directory.CreateDirectory(folder.File("sub"));
        File.WriteAllLines(folder.File("b.txt"), ["b1", "", "b2"]);
        File.WriteAllLines(folder.File("a.txt"), ["a1"]);
        File.WriteAllLines(folder.File("sub/c.txt"), ["c1"]);
        File.WriteAllLines(folder.File("ignored.md"), ["x"]);
        Assert.Equal(["a1", "b1", "b2", "c1"], PretrainingCorpus.ReadLines([folder.Path]));

        var ml = new MLContext(0);
        var view = ml.Data.LoadFromEnumerable(new[] { new Row { Text = "one" }, new Row { Text = "" }, new Row { Text = "two" } });
        Assert.Equal(["one", "two"], PretrainingCorpus.FromDataView(view, "Text"));
        Assert.Contains("'Body'", Assert.Throws<ArgumentException>(() => PretrainingCorpus.FromDataView(view, "Body")).Message);
        Assert.Contains("'Number'", Assert.Throws<ArgumentException>(() => PretrainingCorpus.FromDataView(view, "Number")).Message);
    }

    private sealed class Row
    {
        public string Text { get; set; } = "";
        public float Number { get; set; }
    }
}
