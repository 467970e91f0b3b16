using System.Reflection;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Finds libmamba_native: the path in MAMBA_NATIVE_LIBRARY if set (e.g. a CUDA build on a GPU machine),
/// else next to the app or this assembly, else the system's search path. Loading is tried once; when it
/// fails the reason is kept so the caller can log it and fall back to the reference kernels.
/// </summary>
internal static class NativeLibraryLoader
{
    public const string PathVariable = "MAMBA_NATIVE_LIBRARY";
    private static readonly object s_gate = new();
    private static bool s_tried;
    private static IntPtr s_handle;
    private static bool s_loaded;

    /// <summary>Why the library is unavailable, or null when it loaded.</summary>
    public static string? FailureReason { get; private set; }

    public static bool IsLoaded
    {
        get { EnsureTried(); return s_loaded; }
    }

    /// <summary>Whether the loaded library has its CUDA kernels.</summary>
    public static bool HasCuda => IsLoaded && NativeMethods.mamba_has_cuda() == 1;

    private static void EnsureTried()
    {
        lock (s_gate)
        {
            if (s_tried) return;
            s_tried = true;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
            try
            {
                int version = NativeMethods.mamba_abi_version();
                s_loaded = version == NativeMethods.AbiVersion;
                if (!s_loaded)
                    FailureReason = $"libmamba_native has ABI version {version}, this assembly needs {NativeMethods.AbiVersion}";
                else if (MissingExport() is string missing)
                {
                    s_loaded = false;
                    FailureReason = $"libmamba_native lacks the export {missing}";
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
            {
                FailureReason = e.Message;
            }
        }
    }

    // An older or partial build may lack entry points; calling one would throw mid-training.
    private static string? MissingExport()
    {
        if (s_handle == IntPtr.Zero) return null; // loaded by the runtime's own probing: trust it
        string[] exports =
        {
            "mamba_scan_fwd_cpu", "mamba_scan_bwd_cpu", "mamba_scan_fwd_cuda", "mamba_scan_bwd_cuda",
            "mamba_conv1d_fwd_cpu", "mamba_conv1d_bwd_cpu", "mamba_conv1d_fwd_cuda", "mamba_conv1d_bwd_cuda",
            "mamba_decode_step_cpu", "mamba_decode_step_cuda", "mamba_rms_norm_cpu", "mamba_rms_norm_cuda",
            "mamba_set_num_threads", "mamba_decoder_create_cuda", "mamba_decoder_step_cuda", "mamba_decoder_destroy",
            "mamba2_decoder_create_cuda",
            "mamba_cuda_peak_bandwidth", "mamba_ssd_fwd_cpu", "mamba_ssd_bwd_cpu", "mamba_ssd_step_cpu",
            "mamba_ssd_fwd_cuda", "mamba_ssd_bwd_cuda", "mamba_ssd_step_cuda", "mamba_ssd_checkpoint_floats_cuda",
            "mamba_gated_rms_norm_fwd_cpu", "mamba_gated_rms_norm_bwd_cpu", "mamba_gated_rms_norm_fwd_cuda",
            "mamba_gated_rms_norm_bwd_cuda",
        };
        return exports.FirstOrDefault(e => !NativeLibrary.TryGetExport(s_handle, e, out _));
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != NativeMethods.Library) return IntPtr.Zero; // LibTorchSharp etc.: default probing
        foreach (var candidate in Candidates())
        {
            if (candidate is not null && File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out s_handle))
                return s_handle;
        }
        if (NativeLibrary.TryLoad("libmamba_native.so", assembly, searchPath, out s_handle)) return s_handle;
        return IntPtr.Zero;
    }

    private static IEnumerable<string?> Candidates()
    {
        yield return Environment.GetEnvironmentVariable(PathVariable);
        const string file = "libmamba_native.so";
        foreach (var dir in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(NativeLibraryLoader).Assembly.Location) })
        {
            if (string.IsNullOrEmpty(dir)) continue;
            yield return Path.Combine(dir, file);
            yield return Path.Combine(dir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", file);
            yield return Path.Combine(dir, "runtimes", "linux-x64", "native", file);
        }
    }
}
