using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.Examples;

/// <summary>Writes a PNG of the training loss (per step, with a moving average) and the evaluation losses.</summary>
public static class LossCurve
{
    /// <summary>A classifier's history: step losses and the validation loss at the end of each epoch.</summary>
    public static void Save(TrainingHistory history, string path, string title)
    {
        int stepsPerEpoch = history.StepLosses.Count / Math.Max(1, history.EpochLosses.Count);
        var validation = history.ValidationLosses.Select((loss, e) => ((double)(e + 1) * stepsPerEpoch, loss)).ToList();
        Save(history.StepLosses, validation, "validation loss (per epoch)", path, title, "loss");
    }

    /// <param name="stepLosses">The training loss of steps 1, 2, …</param>
    /// <param name="evaluations">(step, loss) points of a held-out or validation loss.</param>
    /// <param name="evaluationLabel">The legend of <paramref name="evaluations"/>.</param>
    /// <param name="path">The PNG to write.</param>
    /// <param name="title">The plot's title.</param>
    /// <param name="yLabel">The y axis' label.</param>
    public static void Save(IReadOnlyList<double> stepLosses, IReadOnlyList<(double Step, double Loss)> evaluations,
        string evaluationLabel, string path, string title, string yLabel)
    {
        if (stepLosses.Count == 0) return;
        var plot = new ScottPlot.Plot();
        double[] steps = Enumerable.Range(1, stepLosses.Count).Select(i => (double)i).ToArray();
        var raw = plot.Add.Scatter(steps, stepLosses.ToArray());
        raw.LegendText = "training loss (per step)";
        raw.MarkerSize = 0;
        raw.LineWidth = 1;
        raw.Color = raw.Color.WithAlpha(0.35);

        int window = Math.Max(1, stepLosses.Count / 30);
        var smooth = stepLosses.Select((_, i) => stepLosses.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToArray();
        var average = plot.Add.Scatter(steps, smooth);
        average.LegendText = $"training loss ({window}-step mean)";
        average.MarkerSize = 0;
        average.LineWidth = 2;

        if (evaluations.Count > 0)
        {
            var points = plot.Add.Scatter(evaluations.Select(p => p.Step).ToArray(), evaluations.Select(p => p.Loss).ToArray());
            points.LegendText = evaluationLabel;
            points.MarkerSize = 8;
            points.LineWidth = 2;
        }
        plot.Title(title);
        plot.XLabel("optimisation step");
        plot.YLabel(yLabel);
        plot.ShowLegend();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, 900, 500);
    }
}
