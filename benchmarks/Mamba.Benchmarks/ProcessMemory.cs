namespace Mamba.Benchmarks;

/// <summary>
/// This process's resident memory from Linux's /proc: current (VmRSS) and peak (VmHWM), and a reset of
/// the peak to the current value (writing "5" to /proc/self/clear_refs) so the peak covers one region.
/// </summary>
public static class ProcessMemory
{
    public static long ResidentBytes() => StatusBytes("VmRSS:");

    public static long PeakResidentBytes() => StatusBytes("VmHWM:");

    /// <summary>Resets VmHWM to the current VmRSS; throws if the kernel refuses.</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static long StatusBytes(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(key)) continue;
            // "VmHWM:     123456 kB"
            var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[0]) * 1024;
        }
        throw new InvalidOperationException($"/proc/self/status has no {key}");
    }
}
