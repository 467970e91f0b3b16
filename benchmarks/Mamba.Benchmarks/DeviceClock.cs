using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>
/// Wall-clock timing that is honest on CUDA: kernels launch asynchronously, so the device is
/// synchronised before the clock starts and before it is read.
/// </summary>
public sealed class DeviceClock
{
    private readonly Device _device;
    private readonly Stopwatch _watch = new();

    public DeviceClock(Device device) => _device = device;

    public void Synchronize()
    {
        if (_device.type == DeviceType.CUDA) cuda.synchronize(_device);
    }

    /// <summary>Synchronises and starts (or restarts) the clock.</summary>
    public void Start()
    {
        Synchronize();
        _watch.Restart();
    }

    /// <summary>Synchronises and returns milliseconds since <see cref="Start"/>.</summary>
    public double ElapsedMs()
    {
        Synchronize();
        return _watch.Elapsed.TotalMilliseconds;
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
