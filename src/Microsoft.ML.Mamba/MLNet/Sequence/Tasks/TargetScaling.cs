namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// An affine map of training targets: the network learns <c>(target - Mean) / Scale</c> and predictions are
/// mapped back with <c>value * Scale + Mean</c>. Regression standardises so one learning rate suits any label scale.
/// </summary>
internal readonly record struct TargetScaling(float Mean, float Scale)
{
    /// <summary>No change (classification).</summary>
    public static TargetScaling Identity => new(0, 1);

    /// <summary>A target as the network learns it.</summary>
    public float Apply(float target) => (target - Mean) / Scale;

    /// <summary>A network output as a prediction in the label's units.</summary>
    public float Invert(float value) => value * Scale + Mean;
}
