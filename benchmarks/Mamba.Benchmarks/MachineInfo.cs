using System.Diagnostics;
using System.Reflection;
using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>What a reader needs to judge the numbers: the processor, thread counts, GPU, versions, kernels.</summary>
public static class MachineInfo
{
    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"));
            return line?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        }
        catch (IOException) { return "unknown CPU"; }
    }

    /// <summary>The GPU's name: --gpu-name if given, else nvidia-smi (TorchSharp has no get_device_name).</summary>
    public static string GpuName(string? given)
    {
        if (!string.IsNullOrWhiteSpace(given)) return given;
        try
        {
            var psi = new ProcessStartInfo("nvidia-smi", "--query-gpu=name --format=csv,noheader")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            string text = p.StandardOutput.ReadToEnd();
            p.WaitForExit(10_000);
            // One line per GPU; a benchmark runs on device 0.
            var first = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim();
            return p.ExitCode == 0 && !string.IsNullOrEmpty(first) ? first : "unknown GPU (nvidia-smi gave nothing)";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "unknown GPU (no nvidia-smi; pass --gpu-name)";
        }
    }

    public static string TorchSharpVersion()
    {
        var asm = typeof(TorchSharp.torch).Assembly;
        var informational = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return (informational ?? asm.GetName().Version?.ToString() ?? "?").Split('+')[0];
    }

    /// <summary>Whether the native kernels will really run on this device (else NativeKernels falls back).</summary>
    public static string? NativeUnavailableReason(bool cuda)
    {
        if (!NativeKernels.IsAvailable) return "libmamba_native did not load (see the warning above; set MAMBA_NATIVE_LIBRARY)";
        if (cuda && !NativeKernels.HasCuda) return "libmamba_native was built without CUDA";
        return null;
    }

    /// <summary>Lines that head every report.</summary>
    public static List<string> Describe(BenchmarkOptions o)
    {
        var lines = new List<string>();
        if (o.IsCuda)
            lines.Add($"- Device: CUDA, {GpuName(o.GpuName)} (host CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores)");
        else
            lines.Add($"- Device: CPU, {CpuModel()}, {Environment.ProcessorCount} logical cores visible; " +
                      $"torch.get_num_threads() = {get_num_threads()}; native CPU kernels use std::thread::hardware_concurrency() threads");
        lines.Add($"- TorchSharp {TorchSharpVersion()}, .NET {Environment.Version}");
        string nativePath = Environment.GetEnvironmentVariable("MAMBA_NATIVE_LIBRARY") ?? "libmamba_native.so next to the app";
        string native = NativeUnavailableReason(o.IsCuda) is string why ? $"UNAVAILABLE ({why})" : $"{nativePath}{(NativeKernels.HasCuda ? ", with CUDA" : ", CPU only")}";
        lines.Add($"- Kernels: `{new NativeKernels().Name}` = NativeKernels (fused libmamba_native: {native}); " +
                  $"`{MambaKernels.Reference.Name}` = ReferenceKernels (pure TorchSharp, chunk 64)");
        return lines;
    }
}
