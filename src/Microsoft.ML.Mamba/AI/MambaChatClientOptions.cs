using Microsoft.ML.Mamba.Generation;

namespace Microsoft.ML.Mamba.AI;

/// <summary>Settings of a <see cref="MambaChatClient"/> that <c>ChatOptions</c> do not carry.</summary>
public sealed record MambaChatClientOptions
{
    /// <summary>The model id reported in metadata and responses. Default <c>"mamba"</c>.</summary>
    public string ModelId { get; init; } = "mamba";

    /// <summary>How conversations become prompts. Default <see cref="ChatPromptTemplate.Simple"/>.</summary>
    public ChatPromptTemplate Template { get; init; } = ChatPromptTemplate.Simple();

    /// <summary>
    /// The sampling used where a request's <c>ChatOptions</c> set nothing (its temperature, top-p, top-k, maximum
    /// output tokens, seed, stop sequences and repetition penalty). Default: temperature 1, at most 256 new tokens.
    /// </summary>
    public SamplingOptions DefaultSampling { get; init; } = new() { MaxNewTokens = 256 };
}
