using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Tests.Generation;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.AI;

public class MambaChatClientTests
{
    private static readonly IMambaTokenizer Bytes = MambaTokenizers.Bytes();
    private static readonly ChatMessage[] Question = [new(ChatRole.User, "Who are you?")];

    // End of sequence off: a random model may pick it at once, and these tests want long outputs.
    private static MambaChatClient Client(int seed = 41) => new(new MambaGenerator(GenerationModels.Tiny(seed, vocab: Bytes.VocabularySize), Bytes),
        new MambaChatClientOptions { ModelId = "tiny", DefaultSampling = new SamplingOptions { MaxNewTokens = 24, StopAtEndOfSequence = false } });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ResponseCarriesTheGeneratedTextUsageAndFinishReason()
    {
        var client = Client();
        var response = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 20 }, Ct);

        string prompt = "User: Who are you?\nAssistant: ";
        var expected = client.Generator.Generate(prompt,
            new SamplingOptions { Temperature = 0, MaxNewTokens = 20, StopAtEndOfSequence = false, StopStrings = ["\nUser:"] }, Ct);
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(ChatRole.Assistant, Assert.Single(response.Messages).Role);
        Assert.Equal(prompt.Length, response.Usage!.InputTokenCount);
        Assert.Equal(expected.TokenIds.Count, response.Usage.OutputTokenCount);
        Assert.Equal(prompt.Length + expected.TokenIds.Count, response.Usage.TotalTokenCount);
        Assert.Equal(expected.FinishReason == FinishReason.MaxNewTokens ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal("tiny", response.ModelId);
    }

    [Fact]
    public async Task StreamingUpdatesConcatenateToTheGreedyResponse()
    {
        var client = Client();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 30 };
        var whole = await client.GetResponseAsync(Question, options, Ct);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Question, options, Ct)) updates.Add(update);

        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.True(updates.Count > 2);
        var last = updates[^1];
        Assert.Equal(whole.FinishReason, last.FinishReason);
        var usage = Assert.IsType<UsageContent>(Assert.Single(last.Contents)).Details;
        Assert.Equal(whole.Usage!.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        // The usual way to collect a stream gives the same response text.
        Assert.Equal(whole.Text, updates.ToChatResponse().Text);
    }

    [Fact]
    public async Task MaxOutputTokensEndsWithLength()
    {
        var response = await Client().GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 5 }, Ct);
        Assert.Equal(5, response.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task SeedMakesSamplingReproducible()
    {
        var client = Client();
        async Task<string> Sample(long seed) =>
            (await client.GetResponseAsync(Question, new ChatOptions { Temperature = 1, TopK = 50, TopP = 0.95f, Seed = seed, MaxOutputTokens = 24 }, Ct)).Text;
        Assert.Equal(await Sample(7), await Sample(7));
        Assert.NotEqual(await Sample(7), await Sample(8));
        var greedy = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0 }, Ct);
        Assert.Equal(greedy.Text, (await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, Seed = 3 }, Ct)).Text);
    }

    [Fact]
    public async Task StopSequencesCutTheResponse()
    {
        var client = Client();
        var free = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 24 }, Ct);
        string stop = free.Text.Substring(6, 2);
        var stopped = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0, MaxOutputTokens = 24, StopSequences = [stop] }, Ct);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task ACancelledTokenThrows()
    {
        var client = Client();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Question, null, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Question, null, cancelled.Token)) { }
        });
    }

    [Fact]
    public async Task CancellingMidStreamStopsIt()
    {
        var client = Client();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Question, new ChatOptions { MaxOutputTokens = 2000 }, cancel.Token))
            {
                seen++;
                cancel.Cancel();
            }
        });
        Assert.Equal(1, seen);
    }

    [Fact]
    public async Task UnsupportedOptionsAreRejected()
    {
        var client = Client();
        var tool = AIFunctionFactory.Create(() => 1, "one");
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Question, new ChatOptions { Tools = [tool] }, Ct));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Question, new ChatOptions { ResponseFormat = ChatResponseFormat.Json }, Ct));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Question, new ChatOptions { PresencePenalty = 0.5f }, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(Question, new ChatOptions { TopP = 0 }, Ct));
    }

    [Fact]
    public void InstructionsBecomeASystemMessageAndMetadataNamesTheModel()
    {
        var client = Client();
        var request = client.Prepare(Question, new ChatOptions { Instructions = "Be kind." });
        Assert.Equal("System: Be kind.\nUser: Who are you?\nAssistant: ", request.Prompt);
        Assert.Equal("tiny", client.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Same(client.Generator, client.GetService<MambaGenerator>());
        Assert.Same(client, client.GetService<IChatClient>());
    }
}
