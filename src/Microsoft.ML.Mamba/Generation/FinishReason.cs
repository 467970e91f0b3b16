namespace Microsoft.ML.Mamba.Generation;

/// <summary>Why a row stopped generating.</summary>
public enum FinishReason
{
    /// <summary>It produced <see cref="SamplingOptions.MaxNewTokens"/> tokens.</summary>
    MaxNewTokens,

    /// <summary>It chose a stop token (or the tokenizer's end-of-sequence id); that token is not in the output.</summary>
    StopToken,

    /// <summary>Its text came to contain one of <see cref="SamplingOptions.StopStrings"/>.</summary>
    StopString,
}
