using System.Diagnostics;

namespace Mamba.Benchmarks;

/// <summary>A memory measurement from a child process, or why there is none.</summary>
public sealed record ProbeResult(long? Bytes, string? Unavailable)
{
    public string Describe() => Bytes is long b ? $"{b / (1024.0 * 1024.0):F1}" : $"n/a ({Unavailable})";
}

/// <summary>Runs <see cref="MemoryProbe"/> in a child process of this same executable and reads its answer.</summary>
public static class ProbeLauncher
{
    public static ProbeResult Run(string kernel, ScanShape shape, string dtype, BenchmarkOptions o, TimeSpan timeout)
    {
        var (file, prefixArgs) = SelfCommand();
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in prefixArgs.Concat(new[] { "--probe", kernel, "--device", o.DeviceName, "--shape", shape.Arg, "--dtype", dtype }))
            psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return new ProbeResult(null, $"probe took over {timeout.TotalSeconds:F0} s");
            }
            var lines = stdout.Result.Split('\n');
            if (lines.FirstOrDefault(l => l.StartsWith(MemoryProbe.ResultPrefix)) is string ok)
                return new ProbeResult(long.Parse(ok[MemoryProbe.ResultPrefix.Length..].Trim()), null);
            if (lines.FirstOrDefault(l => l.StartsWith(MemoryProbe.UnavailablePrefix)) is string na)
                return new ProbeResult(null, na[MemoryProbe.UnavailablePrefix.Length..].Trim());
            string tail = string.Join(" ", stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(2));
            return new ProbeResult(null, $"probe exited {p.ExitCode} without an answer: {tail}");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new ProbeResult(null, $"could not start the probe: {e.Message}");
        }
    }

    // The apphost runs as itself; under "dotnet Mamba.Benchmarks.dll" the host needs the dll again.
    private static (string File, string[] Args) SelfCommand()
    {
        string path = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        bool viaDotnet = Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        return viaDotnet ? (path, new[] { typeof(ProbeLauncher).Assembly.Location }) : (path, Array.Empty<string>());
    }
}
