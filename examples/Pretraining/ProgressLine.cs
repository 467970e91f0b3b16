using Microsoft.ML.Mamba.LanguageModeling.Pretraining;

namespace Microsoft.ML.Mamba.Examples.Pretraining;

/// <summary>
/// A progress bar on one console line that rewrites itself (step, loss, learning rate, tokens/s, time left); held-out
/// losses get a line of their own. With output redirected to a file it writes a line every 10% and every evaluation.
/// </summary>
internal sealed class ProgressLine : IProgress<PretrainingProgress>
{
    private const int Width = 24;
    private int _lastDecile = -1;
    private bool _open;

    public void Report(PretrainingProgress p)
    {
        int filled = (int)Math.Round(Width * (double)p.Step / p.TotalSteps);
        double perStep = p.Step > 0 ? p.Elapsed.TotalSeconds / p.Step : 0;
        var left = TimeSpan.FromSeconds(perStep * (p.TotalSteps - p.Step));
        string line = $"[{new string('#', filled)}{new string('.', Width - filled)}] step {p.Step}/{p.TotalSteps} loss {p.Loss:F3} " +
                      $"lr {p.LearningRate:G2} {p.TokensPerSecond,7:N0} tok/s {p.Elapsed:hh\\:mm\\:ss} (~{left:hh\\:mm\\:ss} left)";
        bool redirected = Console.IsOutputRedirected;
        int decile = 10 * p.Step / p.TotalSteps;
        if (!redirected)
        {
            Console.Write("\r" + line.PadRight(Math.Min(Math.Max(Console.BufferWidth - 1, 40), 120)));
            _open = true;
        }
        else if (decile != _lastDecile || p.HeldOutLoss is not null) Console.WriteLine(line);
        _lastDecile = decile;
        if (p.HeldOutLoss is double h)
        {
            if (_open) Console.WriteLine();
            _open = false;
            Console.WriteLine($"  held-out loss at step {p.Step}: {h:F3} (perplexity {Math.Exp(h):F2})");
        }
    }

    public void Finish()
    {
        if (_open) Console.WriteLine();
        _open = false;
    }
}
