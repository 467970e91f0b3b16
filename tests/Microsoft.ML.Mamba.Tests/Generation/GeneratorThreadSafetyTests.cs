using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Text;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Generation;

/// <summary>One generator used from several threads at once: calls are serialised and give their sequential results.</summary>
public class GeneratorThreadSafetyTests
{
    [Fact]
    public async Task EightConcurrentGenerationsMatchSequentialOnesAndNeverOverlap()
    {
        var tokenizer = new OverlapDetectingTokenizer(MambaTokenizers.Bytes());
        using var model = GenerationModels.Tiny(51, vocab: tokenizer.VocabularySize);
        var generator = new MambaGenerator(model, tokenizer);
        var prompts = Enumerable.Range(0, 8).Select(i => $"prompt {i}").ToArray();
        SamplingOptions Options(int i) => new() { Seed = 100 + i, Temperature = 0.9f, MaxNewTokens = 10, StopAtEndOfSequence = false };

        var sequential = prompts.Select((p, i) => generator.Generate(p, Options(i)).Text).ToArray();
        Assert.Equal(1, tokenizer.MostAtOnce);

        using var start = new Barrier(prompts.Length);
        var concurrent = await Task.WhenAll(prompts.Select((p, i) => Task.Run(() =>
        {
            start.SignalAndWait();
            if (i % 2 == 0) return generator.Generate(p, Options(i)).Text;
            var pieces = new List<string>();
            var stream = generator.StreamAsync(p, Options(i)).GetAsyncEnumerator();
            while (stream.MoveNextAsync().AsTask().GetAwaiter().GetResult()) pieces.Add(stream.Current);
            stream.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return string.Concat(pieces);
        })));

        Assert.Equal(sequential, concurrent);
        Assert.Equal(1, tokenizer.MostAtOnce);   // decoding runs inside generation: never two generations at once
    }

    /// <summary>Records how many Decode calls ran at the same time; each lingers a little so overlaps would show.</summary>
    private sealed class OverlapDetectingTokenizer(IMambaTokenizer inner) : IMambaTokenizer
    {
        private int _now;
        public int MostAtOnce;
        public int VocabularySize => inner.VocabularySize;
        public int? PadTokenId => inner.PadTokenId;
        public int? BosTokenId => inner.BosTokenId;
        public int? EosTokenId => inner.EosTokenId;
        public IReadOnlyList<int> Encode(string text) => inner.Encode(text);

        public string Decode(IEnumerable<int> ids)
        {
            int now = Interlocked.Increment(ref _now);
            int most;
            while (now > (most = Volatile.Read(ref MostAtOnce)) && Interlocked.CompareExchange(ref MostAtOnce, now, most) != most) { }
            try
            {
                Thread.Sleep(1);
                return inner.Decode(ids);
            }
            finally
            {
                Interlocked.Decrement(ref _now);
            }
        }
    }
}
