namespace Microsoft.ML.Mamba.Training;

/// <summary>One training row: its token ids (already truncated) and its target (class index or value).</summary>
internal readonly record struct TokenizedExample(int[] Tokens, float Target);
