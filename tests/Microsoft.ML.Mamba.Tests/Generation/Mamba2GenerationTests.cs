using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.Generation;

/// <summary>Generation above the mixer works unchanged for Mamba-2: the cache holds its states.</summary>
public class Mamba2GenerationTests
{
    private static readonly int[][] Prompts = [[3, 14, 15, 9, 2, 6], [5], [35, 8, 9, 7]];

    private static MambaForCausalLM Tiny(int seed, int vocab = 37)
    {
        var config = TinyConfigs.TinyMamba2(vocab);
        config.InitializerRange = 0.5;   // peaked distributions, as GenerationModels.Tiny
        var model = TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(config));
        model.eval();
        return model;
    }

    [Fact]
    public void GreedyWithTheCacheEqualsTheFullForwardEachStep()
    {
        var model = Tiny(11);
        var loop = new GenerationLoop(model);
        var batch = loop.Run(Prompts, SamplingOptions.Greedy(10), cancellationToken: TestContext.Current.CancellationToken);
        for (int r = 0; r < Prompts.Length; r++)
            Assert.Equal(GenerationModels.GreedyByFullForward(model, Prompts[r], 10), batch[r].TokenIds);
    }

    [Fact]
    public void SeededSamplingAndStreamingThroughTheGenerator()
    {
        var tokenizer = new ByteTokenizer();
        var model = Tiny(12, tokenizer.VocabularySize);
        var generator = new MambaGenerator(model, tokenizer);
        var options = new SamplingOptions { Temperature = 0.8f, TopK = 20, Seed = 4, MaxNewTokens = 12, StopAtEndOfSequence = false };
        var first = generator.Generate("mamba two", options, cancellationToken: TestContext.Current.CancellationToken);
        var again = generator.Generate("mamba two", options, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(first.Text, again.Text);
        Assert.Equal(12, first.TokenIds.Count);
        var streamed = string.Concat(generator.StreamAsync("mamba two", options, TestContext.Current.CancellationToken).ToBlockingEnumerable(TestContext.Current.CancellationToken));
        Assert.Equal(first.Text, streamed);
    }

    [Fact]
    public async Task AMamba2FolderServesAsAChatClient()
    {
        var tokenizer = new ByteTokenizer();
        var model = Tiny(13, tokenizer.VocabularySize);
        using var folder = new TempDirectory();
        MambaLanguageModelFolder.Save(folder.Path, model, tokenizer);
        var client = MambaChatClient.FromPretrained(folder.Path, options: new MambaChatClientOptions
        {
            DefaultSampling = new SamplingOptions { MaxNewTokens = 10, StopAtEndOfSequence = false },
        });
        Assert.Equal(MambaArchitecture.Mamba2, client.Generator.Model.Config.Architecture);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Temperature = 0 }, TestContext.Current.CancellationToken);
        var expected = new MambaGenerator(model, tokenizer).Generate("User: Hi\nAssistant: ",
            new SamplingOptions { Temperature = 0, MaxNewTokens = 10, StopAtEndOfSequence = false, StopStrings = ["\nUser:"] }, TestContext.Current.CancellationToken);
        Assert.Equal(expected.Text, response.Text);
    }
}
