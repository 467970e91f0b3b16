using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Chooses where the network runs: CUDA when libtorch has it, else the CPU.</summary>
internal static class MambaDevice
{
    /// <summary>
    /// Training device. Honours <see cref="MLContext.GpuDeviceId"/> (which GPU) and <see cref="MLContext.FallbackToCpu"/>
    /// (CPU instead of an error when a GPU was asked for but CUDA is unavailable). Without a GpuDeviceId, GPU 0 is used when present.
    /// </summary>
    public static Device ForTraining((int? GpuDeviceId, bool FallbackToCpu) settings)
    {
        bool cuda = torch.cuda.is_available();
        int? id = settings.GpuDeviceId;
        if (cuda) return new Device(DeviceType.CUDA, id ?? 0);
        if (id is not null && !settings.FallbackToCpu)
            throw new InvalidOperationException($"MLContext.GpuDeviceId is {id} but CUDA is not available to TorchSharp; set FallbackToCpu = true to train on the CPU.");
        return torch.CPU;
    }

    /// <summary>Device for a loaded model: CUDA 0 when available, else the CPU.</summary>
    public static Device ForInference() => torch.cuda.is_available() ? new Device(DeviceType.CUDA, 0) : torch.CPU;
}
