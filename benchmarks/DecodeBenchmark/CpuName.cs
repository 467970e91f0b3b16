using System.Runtime.InteropServices;

/// <summary>The CPU's model name for the benchmarks' machine line (/proc/cpuinfo), or the architecture.</summary>
internal static class CpuName
{
    public static string Read()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException) { return RuntimeInformation.ProcessArchitecture.ToString(); }
    }
}
