using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.Examples;

/// <summary>Draws Mamba training progress as one console line that rewrites itself.</summary>
public sealed class ConsoleProgressBar : IProgress<MambaTrainingProgress>
{
    private const int Width = 30;
    private DateTime _lastDraw = DateTime.MinValue;

    public void Report(MambaTrainingProgress p)
    {
        // Redraw at most 5 times a second, but always at the end of an epoch.
        if (!p.IsEndOfEpoch && DateTime.UtcNow - _lastDraw < TimeSpan.FromMilliseconds(200)) return;
        _lastDraw = DateTime.UtcNow;
        int filled = (int)Math.Round(Width * (double)p.Step / p.TotalSteps);
        string bar = new string('#', filled) + new string('.', Width - filled);
        string line = $"[{bar}] epoch {p.Epoch}/{p.NumberOfEpochs} step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} {p.ExamplesPerSecond,6:F1} rows/s ETA {p.Remaining:mm\\:ss}";
        if (p.IsEndOfEpoch)
            line = $"[{bar}] epoch {p.Epoch}/{p.NumberOfEpochs} done: train loss {p.Loss:F4}" + (p.ValidationLoss is { } v ? $", validation loss {v:F4}" : "");
        if (Console.IsOutputRedirected) { if (p.IsEndOfEpoch) Console.WriteLine(line); return; }
        Console.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 110) : 110));
        if (p.IsEndOfEpoch) Console.WriteLine();
    }
}
