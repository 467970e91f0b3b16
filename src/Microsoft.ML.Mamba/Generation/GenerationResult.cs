namespace Microsoft.ML.Mamba.Generation;

/// <summary>One prompt's text-level result.</summary>
/// <param name="Prompt">The prompt text.</param>
/// <param name="TokenIds">The new token ids (no prompt, no final stop token; tokens that spelled a stop string are kept).</param>
/// <param name="Text">The generated text, cut just before a stop string if one was found.</param>
/// <param name="FinishReason">Why generation stopped.</param>
public sealed record GenerationResult(string Prompt, IReadOnlyList<int> TokenIds, string Text, FinishReason FinishReason);
