using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>
/// The child-process side of the memory measurement (<c>--probe native|reference</c>): one
/// forward+backward of one kernel in a fresh process, so neither kernel inherits the other's cached
/// allocations. It prints one line, <c>PROBE_RESULT bytes</c> or <c>PROBE_NA reason</c>.
/// Measured: peak memory above what the inputs and the output gradient already hold, i.e. the kernel's
/// saved activations, workspaces, the output and the input gradients.
/// </summary>
public static class MemoryProbe
{
    public const string ResultPrefix = "PROBE_RESULT ";
    public const string UnavailablePrefix = "PROBE_NA ";

    public static int Run(BenchmarkOptions o)
    {
        try
        {
            Console.WriteLine(ResultPrefix + Measure(o));
        }
        catch (Exception e)
        {
            Console.WriteLine(UnavailablePrefix + e.GetType().Name + ": " + e.Message.Split('\n')[0]);
        }
        return 0;
    }

    private static long Measure(BenchmarkOptions o)
    {
        IMambaKernels kernels = o.ProbeKernel switch
        {
            "native" => new NativeKernels(),
            "reference" => MambaKernels.Reference,
            _ => throw new ArgumentException($"--probe must be native or reference, got '{o.ProbeKernel}'"),
        };
        if (kernels is NativeKernels && MachineInfo.NativeUnavailableReason(o.IsCuda) is string why)
            throw new InvalidOperationException(why);
        var shape = o.Shapes[0];
        var dtype = o.DTypes[0];
        var clock = new DeviceClock(o.Device);

        // A tiny run first, so code pages, thread pools and (on CUDA) lazily loaded kernels and the
        // context are in place before the measured region.
        var tiny = shape with { Batch = 1, Dim = 16, Length = 128 };
        ForwardBackward(kernels, tiny, dtype, o.Device, clock, measure: null);

        return o.IsCuda
            ? ForwardBackward(kernels, shape, dtype, o.Device, clock, measure: CudaRegion)
            : ForwardBackward(kernels, shape, dtype, o.Device, clock, measure: CpuRegion);
    }

    private static long ForwardBackward(IMambaKernels kernels, ScanShape shape, ScalarType dtype, Device device,
        DeviceClock clock, Func<Action, long>? measure)
    {
        using var scope = NewDisposeScope();
        using var inputs = ScanInputs.Create(shape, dtype, device, requiresGrad: true);
        var dout = randn(new long[] { shape.Batch, shape.Dim, shape.Length }, dtype: dtype, device: device);
        clock.Synchronize();
        Tensor[]? grads = null;
        void Work()
        {
            var output = inputs.Run(kernels);
            grads = autograd.grad(new[] { output }, inputs.Differentiable, new[] { dout }).ToArray();
            clock.Synchronize();
        }
        if (measure is null) { Work(); return 0; }
        return measure(Work);   // grads stay alive until measured: they are part of the peak
    }

    // CPU: peak resident set (VmHWM, reset just before) minus the resident set before.
    private static long CpuRegion(Action work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = ProcessMemory.ResidentBytes();
        ProcessMemory.ResetPeak();
        work();
        return ProcessMemory.PeakResidentBytes() - before;
    }

    // CUDA: growth of device used memory; the caching allocator keeps what it reserved at the peak.
    private static long CudaRegion(Action work)
    {
        if (CudaMemoryInfo.Unavailable is string why) throw new InvalidOperationException(why);
        long before = CudaMemoryInfo.UsedBytes();
        work();
        return CudaMemoryInfo.UsedBytes() - before;
    }
}
