using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.Generation;

public class StreamingTests
{
    private static readonly IMambaTokenizer Bytes = MambaTokenizers.Bytes();

    /// <summary>Every token's piece, then what Finish releases (in that order: LINQ's Append would call Finish first).</summary>
    private static List<string> Stream(IncrementalDetokenizer detokenizer, IEnumerable<int> ids)
    {
        var pieces = ids.Select(detokenizer.Push).ToList();
        pieces.Add(detokenizer.Finish());
        return pieces;
    }

    [Fact]
    public void DetokenizerNeverSplitsAMultiByteCharacter()
    {
        const string text = "h€llo, wörld 😀!";
        var detokenizer = new IncrementalDetokenizer(Bytes);
        var pieces = Stream(detokenizer, Bytes.Encode(text));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal(text, string.Concat(pieces));
        // "€" is 3 bytes: nothing comes out until its last byte arrives.
        int euro = 1;
        Assert.Equal(new[] { "h", "", "", "€" }, pieces.Take(euro + 3));
        Assert.Equal(text, detokenizer.Text);
    }

    [Fact]
    public void DetokenizerHoldsGpt2ByteTokensUntilTheCharacterIsWhole()
    {
        var gpt2 = MambaTokenizers.Gpt2();
        const string text = "Grüße 😀 and 漢字 too";
        var ids = gpt2.Encode(text);
        Assert.True(ids.Count < System.Text.Encoding.UTF8.GetByteCount(text));   // real BPE merges, yet...
        var detokenizer = new IncrementalDetokenizer(gpt2);
        var pieces = Stream(detokenizer, ids);
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));              // ...the emoji spans several tokens
        Assert.Contains(pieces, p => p.Length == 0);
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void DetokenizerKeepsACharacterWholeWhenItFollowsALongInvalidRun()
    {
        // Seven stray continuation bytes, then "䕯" (E4 95 AF): the eighth held token is the character's first byte.
        // A flaky run of the streaming test below found this: letting all eight out broke the character in three.
        int[] ids = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0xE4, 0x95, 0xAF, 'a'];
        var detokenizer = new IncrementalDetokenizer(Bytes);
        var pieces = Stream(detokenizer, ids);
        Assert.Equal(new string('\uFFFD', 7) + "䕯a", string.Concat(pieces));
        Assert.Equal(Bytes.Decode(ids), string.Concat(pieces));
        Assert.Equal(new string('\uFFFD', 7), pieces[7]);   // the invalid run still comes out at the cap
    }

    [Theory]
    [InlineData("bytes")]
    [InlineData("gpt2")]
    public void StreamedPiecesOfRandomTokensConcatenateToTheirDecoding(string tokenizerName)
    {
        // Random ids, mostly bytes >= 0x80 for the byte tokenizer: split, invalid and valid UTF-8 mixed.
        var tokenizer = tokenizerName == "bytes" ? Bytes : MambaTokenizers.Gpt2();
        var random = new Random(17);
        for (int sequence = 0; sequence < 500; sequence++)
        {
            var ids = Enumerable.Range(0, random.Next(1, 40)).Select(_ => tokenizerName == "bytes"
                ? (random.Next(4) == 0 ? random.Next(0x20, 0x80) : random.Next(0x80, 0x100))
                : random.Next(tokenizer.VocabularySize)).ToArray();
            var detokenizer = new IncrementalDetokenizer(tokenizer);
            string streamed = string.Concat(Stream(detokenizer, ids));
            Assert.True(tokenizer.Decode(ids) == streamed, $"ids [{string.Join(", ", ids)}] streamed differently from their decoding");
            Assert.Equal(streamed, detokenizer.Text);
        }
    }

    [Fact]
    public void DetokenizerHoldsBackWhatMightStartAStopStringAndCutsAtIt()
    {
        var detokenizer = new IncrementalDetokenizer(Bytes, ["\n\n", "END"]);
        var pieces = new List<string>();
        foreach (int id in Bytes.Encode("ab\ncE\nEN")) pieces.Add(detokenizer.Push(id));
        Assert.Equal("ab\ncE\n", string.Concat(pieces));   // "EN" could still become "END"
        Assert.False(detokenizer.StopStringFound);
        pieces.Add(detokenizer.Push('D'));
        Assert.True(detokenizer.StopStringFound);
        pieces.Add(detokenizer.Push('x'));
        pieces.Add(detokenizer.Finish());
        Assert.Equal("ab\ncE\n", string.Concat(pieces));
        Assert.Equal("ab\ncE\n", detokenizer.Text);
    }

    [Fact]
    public async Task StreamedPiecesConcatenateToTheGeneratedText()
    {
        // A random byte-level model emits plenty of bytes ≥ 0x80, i.e. split and invalid UTF-8.
        var generator = new MambaGenerator(GenerationModels.Tiny(31, vocab: Bytes.VocabularySize), Bytes);
        var options = new SamplingOptions { Seed = 5, MaxNewTokens = 60, StopAtEndOfSequence = false };
        var pieces = new List<string>();
        await foreach (var piece in generator.StreamAsync("Grüße, ", options, TestContext.Current.CancellationToken)) pieces.Add(piece);
        var whole = generator.Generate("Grüße, ", options, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(60, whole.TokenIds.Count);
        Assert.Equal(whole.Text, string.Concat(pieces));
        Assert.Equal(Bytes.Decode(whole.TokenIds), whole.Text);
        Assert.DoesNotContain(pieces, p => p.Length == 0);
    }

    [Fact]
    public void StopStringCutsTheTextAndEndsTheRow()
    {
        var generator = new MambaGenerator(GenerationModels.Tiny(32, vocab: Bytes.VocabularySize), Bytes);
        var options = SamplingOptions.Greedy(40);
        var free = generator.Generate(["abc", "x"], options, cancellationToken: TestContext.Current.CancellationToken);
        string stop = free[0].Text.Substring(4, 2);
        options.StopStrings = [stop];
        var stopped = generator.Generate(["abc", "x"], options, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(FinishReason.StopString, stopped[0].FinishReason);
        Assert.Equal(free[0].Text[..free[0].Text.IndexOf(stop, StringComparison.Ordinal)], stopped[0].Text);
        Assert.True(stopped[0].TokenIds.Count < free[0].TokenIds.Count);
        int at = free[1].Text.IndexOf(stop, StringComparison.Ordinal);
        Assert.Equal(at < 0 ? free[1].Text : free[1].Text[..at], stopped[1].Text);
    }

    [Fact]
    public async Task CancellationStopsTheStreamPromptly()
    {
        var generator = new MambaGenerator(GenerationModels.Tiny(33, vocab: Bytes.VocabularySize), Bytes);
        var options = new SamplingOptions { Seed = 1, MaxNewTokens = 1_000_000, StopAtEndOfSequence = false };
        using var cancel = new CancellationTokenSource();
        int pieces = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in generator.StreamAsync("Hello", options, cancel.Token))
                if (++pieces == 5) cancel.Cancel();
        });
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        Assert.InRange(pieces, 5, 6);
    }

    [Fact]
    public async Task LeavingTheStreamEarlyStopsGeneration()
    {
        var generator = new MambaGenerator(GenerationModels.Tiny(34, vocab: Bytes.VocabularySize), Bytes);
        var options = new SamplingOptions { Seed = 1, MaxNewTokens = 1_000_000, StopAtEndOfSequence = false };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await foreach (var _ in generator.StreamAsync("Hello", options, TestContext.Current.CancellationToken)) break;
        // Disposing the enumerator waits for the worker, so getting here at all means it stopped.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }
}
