using System.Runtime.InteropServices;

namespace Mamba.Benchmarks;

/// <summary>
/// Device-wide used memory from cudaMemGetInfo, called through the CUDA runtime libtorch has already
/// loaded (TorchSharp does not expose the caching allocator's statistics). Used memory includes what
/// PyTorch's caching allocator has reserved, which it keeps after tensors are freed; so the growth of
/// used memory over a region is about the peak reserved memory in that region.
/// </summary>
public static unsafe class CudaMemoryInfo
{
    private static readonly string[] s_runtimeNames = { "libcudart.so.13", "libcudart.so.12", "libcudart.so" };
    private static delegate* unmanaged<nuint*, nuint*, int> s_memGetInfo;
    private static string? s_failure;
    private static bool s_tried;

    /// <summary>Why cudaMemGetInfo cannot be called, or null when it can.</summary>
    public static string? Unavailable
    {
        get { Load(); return s_failure; }
    }

    /// <summary>Total minus free device memory, in bytes.</summary>
    public static long UsedBytes()
    {
        Load();
        if (s_failure is not null) throw new InvalidOperationException(s_failure);
        nuint free, total;
        int status = s_memGetInfo(&free, &total);
        if (status != 0) throw new InvalidOperationException($"cudaMemGetInfo returned error {status}");
        return (long)(total - free);
    }

    private static void Load()
    {
        if (s_tried) return;
        s_tried = true;
        foreach (var name in s_runtimeNames)
        {
            // dlopen of a soname already in the process returns that copy: the one libtorch uses.
            if (NativeLibrary.TryLoad(name, out var handle) && NativeLibrary.TryGetExport(handle, "cudaMemGetInfo", out var fn))
            {
                s_memGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)fn;
                return;
            }
        }
        s_failure = $"no CUDA runtime with cudaMemGetInfo found (tried {string.Join(", ", s_runtimeNames)})";
    }
}
