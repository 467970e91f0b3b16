using System.Globalization;

namespace Microsoft.ML.Mamba.Examples.Pretraining;

/// <summary>Reads a pretraining run's loss.csv and draws it with <see cref="LossCurve"/>.</summary>
internal static class LossPlot
{
    public static void Save(string csvPath, string pngPath, string title)
    {
        var train = new List<double>();
        var heldOut = new List<(double Step, double Loss)>();
        foreach (var line in File.ReadLines(csvPath).Skip(1))
        {
            var f = line.Split(',');
            train.Add(double.Parse(f[3], CultureInfo.InvariantCulture));
            if (f[4].Length > 0) heldOut.Add((double.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture)));
        }
        // loss.csv starts at step 1 with one row per step, so the training losses are in step order.
        LossCurve.Save(train, heldOut, "held-out loss", pngPath, title, "loss (nats per token)");
    }
}
