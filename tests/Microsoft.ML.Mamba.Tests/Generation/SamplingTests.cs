using Microsoft.ML.Mamba.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Generation;

public class SamplingTests
{
    private static readonly int[][] Prompts = [[3, 14, 15, 9, 2, 6], [5], [35, 8, 9, 7]];
    private static Tensor Row(params float[] values) => tensor(values).unsqueeze(0);

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeSeenLogits()
    {
        var logits = Row(2f, -2f, 1f, -1f);
        var seen = tensor(new[] { true, true, false, false }).unsqueeze(0);
        var result = TensorData.Flat(TokenSampler.ApplyRepetitionPenalty(logits, seen, 2f));
        Assert.Equal(new double[] { 1, -4, 1, -1 }, result);
    }

    [Fact]
    public void TemperatureDividesLogits()
    {
        Assert.Equal(new double[] { 4, -1, 0 }, TensorData.Flat(TokenSampler.ApplyTemperature(Row(2f, -0.5f, 0f), 0.5f)));
    }

    [Fact]
    public void TopKKeepsTheKLargestAndTies()
    {
        var ninf = double.NegativeInfinity;
        Assert.Equal(new[] { ninf, 3, 2, ninf }, TensorData.Flat(TokenSampler.ApplyTopK(Row(1f, 3f, 2f, 0f), 2)));
        Assert.Equal(new[] { ninf, 3, 2, 2 }, TensorData.Flat(TokenSampler.ApplyTopK(Row(1f, 3f, 2f, 2f), 2)));
        Assert.Equal(new double[] { 1, 3 }, TensorData.Flat(TokenSampler.ApplyTopK(Row(1f, 3f), 5)));
    }

    [Theory]
    [InlineData(0.75f, new[] { false, true, true, false })]   // 0.3 + 0.5 = 0.8 ≥ 0.75
    [InlineData(0.85f, new[] { false, true, true, true })]    // needs 0.15 as well
    [InlineData(0.4f, new[] { false, true, false, false })]   // the top token alone is enough
    [InlineData(0.01f, new[] { false, true, false, false })]  // the top token always survives
    public void TopPKeepsTheSmallestNucleusReachingP(float p, bool[] kept)
    {
        // Probabilities 0.05, 0.5, 0.3, 0.15 (shuffled so the sort matters).
        var logits = Row(MathF.Log(0.05f), MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f));
        var result = TensorData.Flat(TokenSampler.ApplyTopP(logits, p));
        Assert.Equal(kept, result.Select(v => !double.IsNegativeInfinity(v)).ToArray());
    }

    [Fact]
    public void SamplesFollowTheTemperedDistribution()
    {
        // p = softmax([0, ln 3] / 0.5) = (0.1, 0.9).
        using var sampler = new TokenSampler(new SamplingOptions { Temperature = 0.5f, Seed = 7 }, 1, 2);
        var logits = Row(0f, MathF.Log(3f));
        int ones = 0, draws = 4000;
        for (int i = 0; i < draws; i++) ones += (int)sampler.Next(logits).item<long>();
        Assert.InRange(ones / (double)draws, 0.88, 0.92);
    }

    [Fact]
    public void TopKOfOneSamplesTheArgmax()
    {
        using var sampler = new TokenSampler(new SamplingOptions { TopK = 1, Seed = 3 }, 2, 4);
        var logits = tensor(new float[,] { { 0f, 0.1f, 0.2f, 0f }, { 3f, 2.9f, 0f, 0f } });
        for (int i = 0; i < 50; i++) Assert.Equal(new long[] { 2, 0 }, sampler.Next(logits).data<long>().ToArray());
    }

    [Fact]
    public void SameSeedSameTokensAndOtherSeedOtherTokens()
    {
        var model = GenerationModels.Tiny(21);
        var loop = new GenerationLoop(model);
        SamplingOptions Options(int seed) => new() { Seed = seed, Temperature = 1.2f, TopP = 0.95f, MaxNewTokens = 16 };
        var a = loop.Run(Prompts, Options(42), cancellationToken: TestContext.Current.CancellationToken);
        var b = loop.Run(Prompts, Options(42), cancellationToken: TestContext.Current.CancellationToken);
        var c = loop.Run(Prompts, Options(43), cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++) Assert.Equal(a[r].TokenIds, b[r].TokenIds);
        Assert.Contains(Enumerable.Range(0, Prompts.Length), r => !a[r].TokenIds.SequenceEqual(c[r].TokenIds));
    }

    [Fact]
    public void BatchRowRSamplesLikeItsPromptAloneWithSeedPlusR()
    {
        var model = GenerationModels.Tiny(22);
        var loop = new GenerationLoop(model);
        var options = new SamplingOptions { Seed = 100, Temperature = 1f, TopK = 20, RepetitionPenalty = 1.3f, MaxNewTokens = 15, StopTokenIds = [4] };
        var batch = loop.Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++)
        {
            var alone = options.Clone();
            alone.Seed = 100 + r;
            var single = loop.Run([Prompts[r]], alone, cancellationToken: TestContext.Current.CancellationToken)[0];
            Assert.Equal(single.TokenIds, batch[r].TokenIds);
            Assert.Equal(single.FinishReason, batch[r].FinishReason);
        }
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = -1 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopP = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopK = -2 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { RepetitionPenalty = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions { StopStrings = [""] }.Validate());
    }
}
