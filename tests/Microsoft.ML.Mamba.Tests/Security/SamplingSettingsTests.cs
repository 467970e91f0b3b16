using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Tests.Generation;
using Microsoft.ML.Mamba.Text;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>Sampling settings that would make the sampler produce inf or NaN are refused before anything runs.</summary>
public class SamplingSettingsTests
{
    [Theory]
    [InlineData(float.Epsilon)]
    [InlineData(1e-5f)]
    [InlineData(-0.5f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void TemperaturesThatOverflowAreRefused(float temperature)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = temperature }.Validate());
        Assert.Equal(nameof(SamplingOptions.Temperature), error.ParamName);
    }

    [Theory]
    [InlineData(float.Epsilon)]
    [InlineData(1e-4f)]
    [InlineData(0f)]
    [InlineData(1001f)]
    [InlineData(float.NaN)]
    [InlineData(float.MaxValue)]
    public void RepetitionPenaltiesThatOverflowAreRefused(float penalty)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { RepetitionPenalty = penalty }.Validate());
        Assert.Equal(nameof(SamplingOptions.RepetitionPenalty), error.ParamName);
    }

    [Fact]
    public void TheBoundsThemselvesAreAccepted()
    {
        new SamplingOptions { Temperature = 0f }.Validate();
        new SamplingOptions { Temperature = SamplingOptions.MinTemperature, RepetitionPenalty = SamplingOptions.MinRepetitionPenalty }.Validate();
        new SamplingOptions
        {
            RepetitionPenalty = SamplingOptions.MaxRepetitionPenalty, TopK = SamplingOptions.MaxTopK, MaxNewTokens = SamplingOptions.MaxNewTokensLimit,
            StopStrings = Enumerable.Repeat(new string('x', SamplingOptions.MaxStopStringLength), SamplingOptions.MaxStopStrings).ToArray(),
            StopTokenIds = new int[SamplingOptions.MaxStopTokenIds],
        }.Validate();
    }

    [Fact]
    public void CountsAndLengthsAreBounded()
    {
        Assert.Equal("TopK", Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopK = SamplingOptions.MaxTopK + 1 }.Validate()).ParamName);
        Assert.Equal("MaxNewTokens", Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { MaxNewTokens = 1_000_001 }.Validate()).ParamName);
        Assert.Equal("StopTokenIds", Assert.Throws<ArgumentOutOfRangeException>(
            () => new SamplingOptions { StopTokenIds = new int[SamplingOptions.MaxStopTokenIds + 1] }.Validate()).ParamName);
        Assert.Equal("StopStrings", Assert.Throws<ArgumentOutOfRangeException>(
            () => new SamplingOptions { StopStrings = Enumerable.Repeat("x", SamplingOptions.MaxStopStrings + 1).ToArray() }.Validate()).ParamName);
        Assert.Equal("StopStrings", Assert.Throws<ArgumentOutOfRangeException>(
            () => new SamplingOptions { StopStrings = [new string('x', SamplingOptions.MaxStopStringLength + 1)] }.Validate()).ParamName);
    }

    [Fact]
    public async Task GenerationValidatesBeforeTokenizingOrRunningTheModel()
    {
        var tokenizer = new CountingTokenizer(MambaTokenizers.Bytes());
        using var model = GenerationModels.Tiny(41, vocab: tokenizer.VocabularySize);
        var generator = new MambaGenerator(model, tokenizer);
        var bad = new SamplingOptions { Temperature = float.Epsilon };

        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate("hello", bad, TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate(["a", "b"], new SamplingOptions { RepetitionPenalty = float.Epsilon }, TestContext.Current.CancellationToken));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
        {
            await foreach (var _ in generator.StreamAsync("hello", bad, TestContext.Current.CancellationToken)) { }
        });
        Assert.Equal(0, tokenizer.Encodes);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NaNLogitsAreAClearError(bool greedy)
    {
        var options = greedy ? SamplingOptions.Greedy() : new SamplingOptions { Seed = 1 };
        using var sampler = new TokenSampler(options, batchSize: 2, vocabularySize: 4);
        using var logits = tensor(new[] { 0f, 1f, 2f, 3f, 0f, float.NaN, 1f, 2f }, [2, 4]);
        var error = Assert.Throws<InvalidOperationException>(() => sampler.Next(logits));
        Assert.Contains("NaN", error.Message);
    }

    [Fact]
    public void InfiniteLogitsAreAClearErrorWhenSampling()
    {
        using var sampler = new TokenSampler(new SamplingOptions { Seed = 1 }, batchSize: 1, vocabularySize: 3);
        using var plusInfinity = tensor(new[] { 0f, float.PositiveInfinity, float.PositiveInfinity }, [1, 3]);
        Assert.Throws<InvalidOperationException>(() => sampler.Next(plusInfinity));
        using var noFiniteLogit = tensor(new[] { float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity }, [1, 3]);
        Assert.Throws<InvalidOperationException>(() => sampler.Next(noFiniteLogit));
    }

    /// <summary>Counts Encode calls; everything else goes to the wrapped tokenizer.</summary>
    private sealed class CountingTokenizer(IMambaTokenizer inner) : IMambaTokenizer
    {
        public int Encodes;
        public int VocabularySize => inner.VocabularySize;
        public int? PadTokenId => inner.PadTokenId;
        public int? BosTokenId => inner.BosTokenId;
        public int? EosTokenId => inner.EosTokenId;
        public IReadOnlyList<int> Encode(string text) { Interlocked.Increment(ref Encodes); return inner.Encode(text); }
        public string Decode(IEnumerable<int> ids) => inner.Decode(ids);
    }
}
