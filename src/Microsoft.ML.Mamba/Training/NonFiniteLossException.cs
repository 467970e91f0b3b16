namespace Microsoft.ML.Mamba.Training;

/// <summary>The training loss became NaN or infinite; training stopped at <see cref="Step"/>.</summary>
internal sealed class NonFiniteLossException(int step, double loss)
    : InvalidOperationException($"The training loss became {loss} at step {step}; lower the learning rate.")
{
    /// <summary>One-based step whose loss was not finite.</summary>
    public int Step { get; } = step;
    /// <summary>The loss read back (NaN or ±∞).</summary>
    public double Loss { get; } = loss;
}
