namespace Microsoft.ML.Mamba.Modeling;

/// <summary>How a sequence classifier turns per-token hidden states into one vector.</summary>
public enum SequencePooling
{
    /// <summary>The last non-padding token: a causal model has seen the whole sequence there.</summary>
    LastToken,
    /// <summary>The mean over non-padding tokens.</summary>
    Mean,
}
