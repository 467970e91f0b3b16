using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.AI;

/// <summary>
/// A Mamba language model as a Microsoft.Extensions.AI <see cref="IChatClient"/>: the conversation is rendered by a
/// <see cref="ChatPromptTemplate"/>, continued by a <see cref="MambaGenerator"/>, and the continuation returned as the
/// assistant's message with its finish reason and token usage.
/// </summary>
/// <remarks>
/// <para><see cref="ChatOptions"/> map to <see cref="SamplingOptions"/>: <c>Temperature</c> (0 = greedy), <c>TopP</c>,
/// <c>TopK</c>, <c>MaxOutputTokens</c>, <c>Seed</c> and <c>StopSequences</c> (added to the template's own);
/// <c>Instructions</c> become a leading system message. <c>ModelId</c> and <c>ConversationId</c> are ignored.
/// Tools, a JSON response format, and frequency or presence penalties are not supported and throw
/// <see cref="NotSupportedException"/>.</para>
/// <para>Only the text of each message (its <see cref="TextContent"/> parts) reaches the model; other contents are ignored.
/// Usage counts the prompt's tokens and the generated ones (a final stop token not included). The finish reason is
/// <see cref="ChatFinishReason.Length"/> when the token limit was reached, otherwise <see cref="ChatFinishReason.Stop"/>.</para>
/// </remarks>
public sealed class MambaChatClient : IChatClient
{
    private readonly MambaChatClientOptions _options;

    /// <param name="generator">The model and its tokenizer.</param>
    /// <param name="options">Model id, prompt template and default sampling; null for the defaults.</param>
    public MambaChatClient(MambaGenerator generator, MambaChatClientOptions? options = null)
    {
        Generator = generator ?? throw new ArgumentNullException(nameof(generator));
        _options = options ?? new MambaChatClientOptions();
        ArgumentNullException.ThrowIfNull(_options.Template, nameof(options.Template));
        ArgumentNullException.ThrowIfNull(_options.DefaultSampling, nameof(options.DefaultSampling));
        Metadata = new ChatClientMetadata("Microsoft.ML.Mamba", null, _options.ModelId);
    }

    /// <summary>
    /// Loads a saved model folder (<see cref="MambaLanguageModelFolder"/>) with its recorded tokenizer. Unless
    /// <paramref name="options"/> sets a template, the folder's tokenizer_config.json <c>chat_template</c> is used when
    /// there is one, else <see cref="ChatPromptTemplate.Simple"/>. The model id defaults to the folder's name.
    /// </summary>
    public static MambaChatClient FromPretrained(string directory, Device? device = null, MambaChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var template = ChatPromptTemplate.FromTokenizerConfig(directory);
        var generator = MambaLanguageModelFolder.LoadGenerator(directory, device);
        options ??= new MambaChatClientOptions
        {
            ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))),
            Template = template ?? ChatPromptTemplate.Simple(),
        };
        return new MambaChatClient(generator, options);
    }

    /// <summary>The generator behind the client.</summary>
    public MambaGenerator Generator { get; }

    /// <summary>Provider name, and model id from <see cref="MambaChatClientOptions.ModelId"/>.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var (sequence, text) = await Task.Run(() => Run(request, piece: null, cancellationToken), cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text))
        {
            ResponseId = Guid.NewGuid().ToString("N"),
            ModelId = _options.ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(sequence.FinishReason),
            Usage = Usage(request.PromptIds.Count, sequence.TokenIds.Count),
        };
    }

    /// <inheritdoc />
    /// <remarks>Text updates concatenate to what <see cref="GetResponseAsync"/> returns for the same request; the last update carries the finish reason and a <see cref="UsageContent"/>.</remarks>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        string responseId = Guid.NewGuid().ToString("N");
        var createdAt = DateTimeOffset.UtcNow;
        var channel = Channel.CreateUnbounded<ChatResponseUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ChatResponseUpdate Update(IList<AIContent> contents) => new(ChatRole.Assistant, contents)
        {
            ResponseId = responseId, MessageId = responseId, ModelId = _options.ModelId, CreatedAt = createdAt,
        };
        var worker = Task.Run(() =>
        {
            try
            {
                var (sequence, _) = Run(request, piece => channel.Writer.TryWrite(Update([new TextContent(piece)])), stop.Token);
                var last = Update([new UsageContent(Usage(request.PromptIds.Count, sequence.TokenIds.Count))]);
                last.FinishReason = Finish(sequence.FinishReason);
                channel.Writer.TryWrite(last);
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var update in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return update;
            }
        }
        finally
        {
            // The consumer left early: stop the worker at its next token and let it release its tensors.
            stop.Cancel();
            await worker.ConfigureAwait(false);   // never throws: its errors travel through the channel
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType == typeof(MambaGenerator)) return Generator;
        if (serviceType == typeof(ChatPromptTemplate)) return _options.Template;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Does nothing: the model belongs to the <see cref="MambaGenerator"/> given to the constructor.</summary>
    public void Dispose() { }

    /// <summary>The rendered prompt, its token ids and the sampling of one request.</summary>
    internal sealed record Request(string Prompt, IReadOnlyList<int> PromptIds, SamplingOptions Sampling);

    /// <summary>Renders the prompt and maps <paramref name="options"/>; throws for what cannot be honoured, before any work starts.</summary>
    internal Request Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        if (list.Any(m => m is null)) throw new ArgumentException("The messages must not contain null.", nameof(messages));
        var sampling = ToSampling(options);
        if (!string.IsNullOrEmpty(options?.Instructions)) list.Insert(0, new ChatMessage(ChatRole.System, options.Instructions));
        string prompt = _options.Template.Render(list, addGenerationPrompt: true);
        var ids = Generator.Tokenizer.Encode(prompt);
        if (ids.Count == 0)
        {
            ids = Generator.Tokenizer.BosTokenId is int bos ? [bos]
                : throw new ArgumentException("The rendered prompt is empty and the tokenizer has no BOS token to start from.", nameof(messages));
        }
        return new Request(prompt, ids, sampling);
    }

    /// <summary><see cref="MambaChatClientOptions.DefaultSampling"/> with what <paramref name="options"/> sets.</summary>
    internal SamplingOptions ToSampling(ChatOptions? options)
    {
        var sampling = _options.DefaultSampling.Clone();
        sampling.StopStrings = [.. sampling.StopStrings, .. _options.Template.StopSequences];
        if (options is null)
        {
            sampling.Validate();
            return sampling;
        }
        if (options.Tools is { Count: > 0 })
            throw new NotSupportedException($"MambaChatClient does not call tools ({options.Tools.Count} given in ChatOptions.Tools).");
        if (options.ResponseFormat is not null and not ChatResponseFormatText)
            throw new NotSupportedException("MambaChatClient produces plain text only; ChatOptions.ResponseFormat must be null or Text.");
        if (options.FrequencyPenalty is not null || options.PresencePenalty is not null)
            throw new NotSupportedException("ChatOptions.FrequencyPenalty and PresencePenalty are not supported; set a RepetitionPenalty in MambaChatClientOptions.DefaultSampling instead.");
        if (options.Temperature is float temperature) sampling.Temperature = temperature;
        if (options.TopP is float topP) sampling.TopP = topP;
        if (options.TopK is int topK) sampling.TopK = topK;
        if (options.MaxOutputTokens is int max) sampling.MaxNewTokens = max;
        if (options.Seed is long seed)
        {
            sampling.Seed = seed is >= int.MinValue and <= int.MaxValue ? (int)seed
                : throw new ArgumentOutOfRangeException(nameof(options), seed, "ChatOptions.Seed must fit in 32 bits.");
        }
        if (options.StopSequences is { Count: > 0 } stops) sampling.StopStrings = [.. sampling.StopStrings, .. stops];
        sampling.Validate();
        return sampling;
    }

    // One generation on the calling thread; pieces (whole characters) go to piece as they come.
    private (GeneratedSequence Sequence, string Text) Run(Request request, Action<string>? piece, CancellationToken cancellationToken)
    {
        var tokenizer = Generator.Tokenizer;
        var stopTokens = new HashSet<int>(request.Sampling.StopTokenIds);
        if (request.Sampling.StopAtEndOfSequence && tokenizer.EosTokenId is int eos) stopTokens.Add(eos);
        var detokenizer = new IncrementalDetokenizer(tokenizer, request.Sampling.StopStrings);
        var loop = new GenerationLoop(Generator.Model);
        var sequence = loop.Run([request.PromptIds], request.Sampling, stopTokens, (_, token) =>
        {
            var text = detokenizer.Push(token);
            if (piece is not null && text.Length > 0) piece(text);
            return detokenizer.StopStringFound;
        }, cancellationToken)[0];
        var rest = detokenizer.Finish();
        if (piece is not null && rest.Length > 0) piece(rest);
        return (sequence, detokenizer.Text);
    }

    private static ChatFinishReason Finish(FinishReason reason) =>
        reason == FinishReason.MaxNewTokens ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(int input, int output) =>
        new() { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output };
}
