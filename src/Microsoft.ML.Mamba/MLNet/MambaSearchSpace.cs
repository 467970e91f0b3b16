using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Hyper-parameters an AutoML sweep may vary, annotated with the <c>Microsoft.ML.SearchSpace</c> attributes that
/// ship in Microsoft.ML.Core. With Microsoft.ML.AutoML referenced by the application:
/// <code>
/// var space = new SearchSpace&lt;MambaSearchSpace&gt;();
/// var sweepable = mlContext.Auto().CreateSweepableEstimator(
///     (context, p) =&gt; context.MulticlassClassification.Trainers.Mamba(p.ToOptions(new MambaTrainerOptions { TextColumnNames = ["Text"] })),
///     space);
/// var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label").Append(sweepable);
/// </code>
/// </summary>
public sealed class MambaSearchSpace
{
    /// <summary>Peak learning rate (log scale).</summary>
    [Range(1e-4, 3e-3, init: 1e-3, logBase: true)]
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>AdamW weight decay.</summary>
    [Range(0.0, 0.1, init: 0.01)]
    public double WeightDecay { get; set; } = 0.01;

    /// <summary>Rows per step.</summary>
    [Choice(new object[] { 8, 16, 32, 64 }, 32)]
    public int BatchSize { get; set; } = 32;

    /// <summary>Passes over the data.</summary>
    [Range(1, 10, init: 3)]
    public int NumberOfEpochs { get; set; } = 3;

    /// <summary>Share of steps spent warming up.</summary>
    [Range(0.0, 0.3, init: 0.1)]
    public double WarmupFraction { get; set; } = 0.1;

    /// <summary>Network size (by name: Tiny, Small, Base).</summary>
    [Choice(new object[] { "Tiny", "Small", "Base" }, "Tiny")]
    public string ModelSize { get; set; } = "Tiny";

    /// <summary>Pooling (by name: LastToken, Mean).</summary>
    [Choice(new object[] { "LastToken", "Mean" }, "LastToken")]
    public string Pooling { get; set; } = "LastToken";

    /// <summary>Tokens kept per row.</summary>
    [Choice(new object[] { 64, 128, 256, 512 }, 256)]
    public int MaxSequenceLength { get; set; } = 256;

    /// <summary>
    /// Copies the sampled values onto a copy of <paramref name="baseOptions"/> (columns, tokenizer, checkpoint and
    /// everything not searched come from it) and validates the result.
    /// </summary>
    public MambaTrainerOptions ToOptions(MambaTrainerOptions baseOptions)
    {
        ArgumentNullException.ThrowIfNull(baseOptions);
        var options = baseOptions.Clone();
        options.LearningRate = LearningRate;
        options.WeightDecay = WeightDecay;
        options.BatchSize = BatchSize;
        options.NumberOfEpochs = NumberOfEpochs;
        options.WarmupFraction = WarmupFraction;
        options.ModelSize = Enum.Parse<MambaModelSize>(ModelSize);
        options.Pooling = Enum.Parse<SequencePooling>(Pooling);
        options.MaxSequenceLength = MaxSequenceLength;
        options.Validate();
        return options;
    }
}
