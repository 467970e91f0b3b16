namespace Microsoft.ML.Mamba.Generation;

/// <summary>One prompt's token-level result: the prompt, the tokens generated after it, and why generation stopped.</summary>
public sealed class GeneratedSequence
{
    internal GeneratedSequence(IReadOnlyList<int> promptIds) => PromptIds = promptIds;

    /// <summary>The prompt's token ids, as given.</summary>
    public IReadOnlyList<int> PromptIds { get; }

    /// <summary>The new token ids, without the prompt and without a final stop token.</summary>
    public IReadOnlyList<int> TokenIds => Tokens;

    /// <summary>Why this row stopped.</summary>
    public FinishReason FinishReason { get; internal set; } = FinishReason.MaxNewTokens;

    internal List<int> Tokens { get; } = [];
}
