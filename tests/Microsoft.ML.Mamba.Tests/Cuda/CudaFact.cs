using TorchSharp;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>
/// Guards for tests with the trait Category=Cuda: without a CUDA device they are skipped (CI has no GPU);
/// on a GPU machine the CUDA build of libmamba_native must be in use (set MAMBA_NATIVE_LIBRARY).
/// </summary>
internal static class CudaRequirement
{
    public static void DeviceOrSkip()
    {
        if (!torch.cuda.is_available()) Assert.Skip("no CUDA device");
    }

    public static void NativeCudaOrFail()
    {
        DeviceOrSkip();
        Assert.True(Mamba.Scan.NativeKernels.HasCuda,
            "CUDA is available but libmamba_native has no CUDA kernels: build native/ with nvcc and point MAMBA_NATIVE_LIBRARY at it");
    }
}
