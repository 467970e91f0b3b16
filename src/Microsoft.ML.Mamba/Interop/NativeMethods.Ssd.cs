using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>P/Invoke declarations of the Mamba-2 (SSD) section of native/include/mamba_native.h.</summary>
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)] public static partial int mamba_ssd_fwd_cpu(NativeSsdArgs* args, NativeSsdOutputs* outputs);
    [LibraryImport(Library)] public static partial int mamba_ssd_bwd_cpu(NativeSsdArgs* args, NativeSsdGrads* grads);
    [LibraryImport(Library)] public static partial int mamba_ssd_fwd_cuda(NativeSsdArgs* args, NativeSsdOutputs* outputs, IntPtr stream);
    [LibraryImport(Library)] public static partial int mamba_ssd_bwd_cuda(NativeSsdArgs* args, NativeSsdGrads* grads, IntPtr stream);
    [LibraryImport(Library)] public static partial long mamba_ssd_checkpoint_floats_cuda(NativeSsdArgs* args);
    [LibraryImport(Library)] public static partial int mamba_ssd_step_cpu(NativeSsdStepArgs* args);
    [LibraryImport(Library)] public static partial int mamba_ssd_step_cuda(NativeSsdStepArgs* args, IntPtr stream);
}
