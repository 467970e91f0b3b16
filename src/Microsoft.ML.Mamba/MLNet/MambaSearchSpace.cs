using System.Globalization;
using System.Reflection;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Hyper-parameters an AutoML sweep may vary, annotated with the <c>Microsoft.ML.SearchSpace</c> attributes that
/// ship in Microsoft.ML.Core. Without AutoML, <see cref="Sample"/> draws seeded points for a small sweep (see
/// examples/Sweep). With the application referencing Microsoft.ML.AutoML (which brings Microsoft.ML.SearchSpace, home
/// of <c>SearchSpace&lt;T&gt;</c>):
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
    /// Draws one point from the <c>[Range]</c> and <c>[Choice]</c> attributes above: uniform (log-uniform where the
    /// range says logBase), integer ranges inclusive, choices equally likely. The same <paramref name="random"/> state
    /// gives the same points, so a sweep without Microsoft.ML.AutoML is reproducible.
    /// </summary>
    public static MambaSearchSpace Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var point = new MambaSearchSpace();
        foreach (var property in typeof(MambaSearchSpace).GetProperties().OrderBy(p => p.MetadataToken))
        {
            object? value = property.GetCustomAttribute<RangeAttribute>() is { } range ? Draw(range, property.PropertyType, random)
                : property.GetCustomAttribute<ChoiceAttribute>() is { } choice ? choice.Candidates[random.Next(choice.Candidates.Length)]
                : null;
            if (value is not null) property.SetValue(point, Convert.ChangeType(value, property.PropertyType, CultureInfo.InvariantCulture));
        }
        return point;
    }

    private static object Draw(RangeAttribute range, Type type, Random random)
    {
        double min = Convert.ToDouble(range.Min, CultureInfo.InvariantCulture), max = Convert.ToDouble(range.Max, CultureInfo.InvariantCulture);
        if (type == typeof(int)) return random.Next((int)min, (int)max + 1);
        double u = random.NextDouble();
        return range.LogBase ? Math.Exp(Math.Log(min) + u * (Math.Log(max) - Math.Log(min))) : min + u * (max - min);
    }

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
