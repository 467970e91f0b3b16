using System.Diagnostics;

namespace Microsoft.ML.Mamba.Examples;

/// <summary>The numbers each example prints for every model it trains.</summary>
public sealed record ModelReport(string Model, double Accuracy, double MacroF1, double LogLoss, TimeSpan TrainingTime)
{
    /// <summary>Macro-averaged F1: the mean over classes of each class's F1 score.</summary>
    public static double MacroF1Of(IReadOnlyList<int> actual, IReadOnlyList<int> predicted)
    {
        var classes = actual.Concat(predicted).Distinct().ToArray();
        return classes.Average(c =>
        {
            int tp = 0, fp = 0, fn = 0;
            for (int i = 0; i < actual.Count; i++)
            {
                if (predicted[i] == c && actual[i] == c) tp++;
                else if (predicted[i] == c) fp++;
                else if (actual[i] == c) fn++;
            }
            return tp == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
        });
    }

    /// <summary>Prints the reports as a small table.</summary>
    public static void Print(string title, IEnumerable<ModelReport> reports)
    {
        Console.WriteLine();
        Console.WriteLine(title);
        Console.WriteLine($"{"model",-40} {"accuracy",9} {"macro-F1",9} {"log-loss",9} {"train time",11}");
        foreach (var r in reports)
            Console.WriteLine($"{r.Model,-40} {r.Accuracy,9:F4} {r.MacroF1,9:F4} {r.LogLoss,9:F4} {r.TrainingTime.TotalSeconds,10:F1}s");
    }

    /// <summary>Runs <paramref name="train"/> and measures it.</summary>
    public static (T Result, TimeSpan Elapsed) Time<T>(Func<T> train)
    {
        var clock = Stopwatch.StartNew();
        var result = train();
        return (result, clock.Elapsed);
    }
}
