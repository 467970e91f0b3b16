using System.Globalization;

namespace Microsoft.ML.Mamba.Examples.Pretraining;

/// <summary>Draws a pretraining run's loss.csv as a PNG: per-step training loss, its moving average, and the held-out loss.</summary>
internal static class LossPlot
{
    public static void Save(string csvPath, string pngPath, string title)
    {
        var steps = new List<double>();
        var train = new List<double>();
        var heldOutSteps = new List<double>();
        var heldOut = new List<double>();
        foreach (var line in File.ReadLines(csvPath).Skip(1))
        {
            var f = line.Split(',');
            double step = double.Parse(f[0], CultureInfo.InvariantCulture);
            steps.Add(step);
            train.Add(double.Parse(f[3], CultureInfo.InvariantCulture));
            if (f[4].Length > 0)
            {
                heldOutSteps.Add(step);
                heldOut.Add(double.Parse(f[4], CultureInfo.InvariantCulture));
            }
        }
        if (steps.Count == 0) return;
        var plot = new ScottPlot.Plot();
        var raw = plot.Add.Scatter(steps.ToArray(), train.ToArray());
        raw.LegendText = "training loss (per step)";
        raw.MarkerSize = 0;
        raw.LineWidth = 1;
        raw.Color = raw.Color.WithAlpha(0.3);
        int window = Math.Max(1, steps.Count / 50);
        var smooth = train.Select((_, i) => train.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToArray();
        var mean = plot.Add.Scatter(steps.ToArray(), smooth);
        mean.LegendText = $"training loss ({window}-step mean)";
        mean.MarkerSize = 0;
        mean.LineWidth = 2;
        if (heldOut.Count > 0)
        {
            var points = plot.Add.Scatter(heldOutSteps.ToArray(), heldOut.ToArray());
            points.LegendText = "held-out loss";
            points.MarkerSize = 8;
            points.LineWidth = 2;
        }
        plot.Title(title);
        plot.XLabel("optimisation step");
        plot.YLabel("loss (nats per token)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(pngPath, 900, 500);
    }
}
