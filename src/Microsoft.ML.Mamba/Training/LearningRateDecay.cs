namespace Microsoft.ML.Mamba.Training;

/// <summary>How the learning rate falls from its peak (after warm-up) to its floor (zero unless set) at the last step.</summary>
public enum LearningRateDecay
{
    /// <summary>Half a cosine wave.</summary>
    Cosine,
    /// <summary>A straight line.</summary>
    Linear,
    /// <summary>No decay: stays at the peak.</summary>
    Constant,
}
