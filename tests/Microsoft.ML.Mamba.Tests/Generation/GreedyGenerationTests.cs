using Microsoft.ML.Mamba.Generation;
using TorchSharp;

namespace Microsoft.ML.Mamba.Tests.Generation;

public class GreedyGenerationTests
{
    private static readonly int[][] Prompts = [[3, 14, 15, 9, 2, 6], [5], [35, 8, 9, 7]];

    [Fact]
    public void GreedyEqualsArgmaxOfTheFullForwardEachStep()
    {
        var model = GenerationModels.Tiny(11);
        var generated = new GenerationLoop(model).Run([Prompts[0]], SamplingOptions.Greedy(12), cancellationToken: TestContext.Current.CancellationToken)[0];
        Assert.Equal(GenerationModels.GreedyByFullForward(model, Prompts[0], 12), generated.TokenIds);
        Assert.Equal(FinishReason.MaxNewTokens, generated.FinishReason);
    }

    [Fact]
    public void LeftPaddedBatchEqualsEachPromptAlone()
    {
        var model = GenerationModels.Tiny(12);
        var loop = new GenerationLoop(model);
        var batch = loop.Run(Prompts, SamplingOptions.Greedy(10), cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++)
        {
            Assert.Equal(loop.Run([Prompts[r]], SamplingOptions.Greedy(10), cancellationToken: TestContext.Current.CancellationToken)[0].TokenIds, batch[r].TokenIds);
            Assert.Equal(GenerationModels.GreedyByFullForward(model, Prompts[r], 10), batch[r].TokenIds);
        }
    }

    [Fact]
    public void StopTokenEndsOnlyItsRowAndIsLeftOut()
    {
        var model = GenerationModels.Tiny(13);
        var loop = new GenerationLoop(model);
        var free = loop.Run(Prompts, SamplingOptions.Greedy(10), cancellationToken: TestContext.Current.CancellationToken);
        int stop = free[0].TokenIds[3];   // row 0 meets it at step 4 at the latest
        var options = SamplingOptions.Greedy(10);
        options.StopTokenIds = [stop];
        var stopped = loop.Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++)
        {
            int at = free[r].TokenIds.ToList().IndexOf(stop);
            if (at < 0)
            {
                Assert.Equal(free[r].TokenIds, stopped[r].TokenIds);
                Assert.Equal(FinishReason.MaxNewTokens, stopped[r].FinishReason);
            }
            else
            {
                Assert.Equal(free[r].TokenIds.Take(at), stopped[r].TokenIds);
                Assert.Equal(FinishReason.StopToken, stopped[r].FinishReason);
            }
        }
        Assert.True(stopped[0].TokenIds.Count <= 3);
    }

    [Fact]
    public void RowsFinishingAtDifferentLengthsKeepTheirOwnTokens()
    {
        // Stop tokens drop rows from the batch at different steps; the survivors must be unaffected.
        var model = GenerationModels.Tiny(14);
        var loop = new GenerationLoop(model);
        var free = loop.Run(Prompts, SamplingOptions.Greedy(12), cancellationToken: TestContext.Current.CancellationToken);
        var options = SamplingOptions.Greedy(12);
        options.StopTokenIds = [free[1].TokenIds[1], free[2].TokenIds[5]];
        var stopped = loop.Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++)
        {
            var alone = loop.Run([Prompts[r]], options, cancellationToken: TestContext.Current.CancellationToken)[0];
            Assert.Equal(alone.TokenIds, stopped[r].TokenIds);
            Assert.Equal(alone.FinishReason, stopped[r].FinishReason);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void MaxNewTokensIsExact(int max)
    {
        var model = GenerationModels.Tiny(15);
        var options = SamplingOptions.Greedy(max);
        options.StopAtEndOfSequence = false;
        var result = new GenerationLoop(model).Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);
        Assert.All(result, r => Assert.Equal(max, r.TokenIds.Count));
    }

    [Fact]
    public void RepetitionPenaltyFollowsHuggingFaceDuringGreedyDecoding()
    {
        var model = GenerationModels.Tiny(16);
        var options = SamplingOptions.Greedy(12);
        options.RepetitionPenalty = 3f;
        var batch = new GenerationLoop(model).Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++)
            Assert.Equal(GenerationModels.GreedyByFullForward(model, Prompts[r], 12, 3f), batch[r].TokenIds);
        // And it matters: without it the continuation differs for at least one prompt.
        var plain = new GenerationLoop(model).Run(Prompts, SamplingOptions.Greedy(12), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(Enumerable.Range(0, Prompts.Length), r => !plain[r].TokenIds.SequenceEqual(batch[r].TokenIds));
    }

    [Fact]
    public void GenerationReleasesEveryTensorItMakes()
    {
        var model = GenerationModels.Tiny(17);
        var loop = new GenerationLoop(model);
        var options = new SamplingOptions { Seed = 1, TopK = 5, TopP = 0.9f, RepetitionPenalty = 1.2f, MaxNewTokens = 40 };
        loop.Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);   // warm-up: lazily created tensors (if any) do not count
        long before = LiveTensorsOnThisThread();
        options.StopTokenIds = [1, 2];
        loop.Run(Prompts, options, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(before, LiveTensorsOnThisThread());
    }

    private static long LiveTensorsOnThisThread()
    {
        var s = DisposeScopeManager.Statistics;
        return s.CreatedOutsideScopeCount + s.CreatedInScopeCount - s.DisposedOutsideScopeCount - s.DisposedInScopeCount;
    }
}
