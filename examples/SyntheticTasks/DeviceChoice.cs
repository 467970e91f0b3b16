using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>Turns a --device flag (auto, cpu, cuda, cuda:N) into a TorchSharp device.</summary>
public static class DeviceChoice
{
    public static Device Resolve(string flag)
    {
        switch (flag.Trim().ToLowerInvariant())
        {
            case "auto":
                return cuda.is_available() ? CUDA : CPU;
            case "cpu":
                return CPU;
            default:
                if (!flag.StartsWith("cuda", StringComparison.OrdinalIgnoreCase))
                    throw new ArgumentException($"unknown device '{flag}'; expected auto, cpu, cuda or cuda:N");
                // Fail early with a clear message rather than deep inside the first forward pass.
                if (!cuda.is_available())
                    throw new InvalidOperationException(
                        "CUDA was requested but is not available; build with -p:MambaTorchBackend=cuda on a machine with a GPU, or use --device cpu");
                return new Device(flag);
        }
    }
}
