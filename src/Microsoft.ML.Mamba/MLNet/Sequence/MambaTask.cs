namespace Microsoft.ML.Mamba.MLNet;

/// <summary>The prediction task a Mamba estimator was trained for.</summary>
public enum MambaTask
{
    /// <summary>One of several classes; the label is a key.</summary>
    MulticlassClassification,
    /// <summary>True or false; the label is a boolean.</summary>
    BinaryClassification,
    /// <summary>A number; the label is a single.</summary>
    Regression,
}
