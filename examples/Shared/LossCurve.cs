using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.Examples;

/// <summary>Writes a PNG of the training loss (per step, with a moving average) and the validation loss per epoch.</summary>
public static class LossCurve
{
    public static void Save(TrainingHistory history, string path, string title)
    {
        var plot = new ScottPlot.Plot();
        double[] steps = Enumerable.Range(1, history.StepLosses.Count).Select(i => (double)i).ToArray();
        var raw = plot.Add.Scatter(steps, history.StepLosses.ToArray());
        raw.LegendText = "training loss (per step)";
        raw.MarkerSize = 0;
        raw.LineWidth = 1;
        raw.Color = raw.Color.WithAlpha(0.35);

        int window = Math.Max(1, history.StepLosses.Count / 30);
        var smooth = history.StepLosses.Select((_, i) => history.StepLosses.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToArray();
        var average = plot.Add.Scatter(steps, smooth);
        average.LegendText = $"training loss ({window}-step mean)";
        average.MarkerSize = 0;
        average.LineWidth = 2;

        if (history.ValidationLosses.Count > 0)
        {
            int stepsPerEpoch = history.StepLosses.Count / Math.Max(1, history.EpochLosses.Count);
            double[] epochEnds = Enumerable.Range(1, history.ValidationLosses.Count).Select(e => (double)e * stepsPerEpoch).ToArray();
            var validation = plot.Add.Scatter(epochEnds, history.ValidationLosses.ToArray());
            validation.LegendText = "validation loss (per epoch)";
            validation.MarkerSize = 8;
            validation.LineWidth = 2;
        }
        plot.Title(title);
        plot.XLabel("optimisation step");
        plot.YLabel("loss");
        plot.ShowLegend();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, 900, 500);
    }
}
