using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Keeps glibc from returning large tensor buffers to the kernel after every use. By default buffers above a
/// (dynamic) threshold are mmap'ed and unmapped each time, so every CPU training step page-faults and zeroes
/// hundreds of megabytes again; on a 2-core machine that tripled the wall time of a step (mostly system time).
/// Buffers up to 32 MB are then recycled from the heap instead. Linux/glibc only; a no-op elsewhere.
/// Training (<c>TrainingLoop</c>) and generation (<c>GenerationLoop</c>) apply it once per process on the CPU; the cost is that the
/// process keeps up to that much freed memory instead of giving it back.
/// </summary>
internal static class GlibcAllocator
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;
    private static readonly Lazy<string> Applied = new(Apply);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    /// <summary>Sets the thresholds the first time; returns a line describing what was set, or why nothing was.</summary>
    public static string KeepLargeBuffers() => Applied.Value;

    private static string Apply()
    {
        if (!OperatingSystem.IsLinux()) return "allocator unchanged (not Linux)";
        try
        {
            bool ok = MallOpt(M_MMAP_THRESHOLD, 32 << 20) == 1 & MallOpt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
            return ok ? "glibc malloc: buffers up to 32 MB recycled (mmap threshold 32 MB, no trimming)" : "glibc mallopt refused the settings";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "allocator unchanged (no glibc mallopt)";
        }
    }
}
