using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>Timings of one kernel on one (shape, dtype): medians in milliseconds, or why there are none.</summary>
public sealed record ScanTiming(string Kernel, int Reps, double ForwardMs, double ForwardBackwardMs, double BackwardMs, string? Failure)
{
    public static ScanTiming Failed(string kernel, string why) => new(kernel, 0, double.NaN, double.NaN, double.NaN, why);
}

/// <summary>One table row's worth: a kernel's timings and memory on one (shape, dtype).</summary>
public sealed record ScanRow(ScanShape Shape, ScalarType DType, ScanTiming Timing, ProbeResult Memory);

/// <summary>
/// The <c>scan</c> subcommand: forward and forward+backward of the selective scan, NativeKernels and
/// ReferenceKernels in the same run on the same inputs, plus peak extra memory from child processes.
/// </summary>
public static class ScanBenchmark
{
    public static List<ScanRow> Run(BenchmarkOptions o)
    {
        var rows = new List<ScanRow>();
        var clock = new DeviceClock(o.Device);
        var native = new NativeKernels();
        string? nativeMissing = MachineInfo.NativeUnavailableReason(o.IsCuda);
        foreach (var shape in o.Shapes)
        foreach (var dtype in o.DTypes)
        {
            string dtypeName = BenchmarkOptions.DTypeName(dtype);
            Console.Error.WriteLine($"scan {shape} {dtypeName}: timing ...");
            using var inputs = ScanInputs.Create(shape, dtype, o.Device, requiresGrad: true);
            using var dout = randn(new long[] { shape.Batch, shape.Dim, shape.Length }, dtype: dtype, device: o.Device);

            // Without the library NativeKernels would quietly time the reference: report n/a instead.
            var nativeTiming = nativeMissing is null
                ? Measure(native, inputs, dout, clock, o.Warmup, o.Reps)
                : ScanTiming.Failed(native.Name, nativeMissing);
            var referenceTiming = o.SkipReference
                ? ScanTiming.Failed(MambaKernels.Reference.Name, "skipped (--no-reference)")
                : Measure(MambaKernels.Reference, inputs, dout, clock, o.ReferenceWarmup, Math.Min(o.Reps, o.ReferenceReps));

            // Partial results on stderr, so a run cut short by a time limit still leaves numbers.
            foreach (var t in new[] { nativeTiming, referenceTiming })
                Console.Error.WriteLine(t.Failure is null
                    ? $"  {t.Kernel}: fwd {t.ForwardMs:F3} ms, fwd+bwd {t.ForwardBackwardMs:F3} ms, bwd {t.BackwardMs:F3} ms (median of {t.Reps})"
                    : $"  {t.Kernel}: n/a ({t.Failure})");
            Console.Error.WriteLine($"scan {shape} {dtypeName}: memory probes ...");
            var timeout = TimeSpan.FromSeconds(300);
            ProbeResult Probe(string kernel, bool skip, string? why) => skip
                ? new ProbeResult(null, why ?? "skipped")
                : ProbeLauncher.Run(kernel, shape, dtypeName, o, timeout);
            var nativeMemory = Probe("native", o.SkipMemory || nativeMissing is not null, o.SkipMemory ? "skipped (--no-memory)" : "native kernels unavailable");
            var referenceMemory = Probe("reference", o.SkipMemory || o.SkipReference, o.SkipMemory ? "skipped (--no-memory)" : "skipped (--no-reference)");

            Console.Error.WriteLine($"  peak extra MiB: native {nativeMemory.Describe()}, reference {referenceMemory.Describe()}");
            rows.Add(new ScanRow(shape, dtype, nativeTiming, nativeMemory));
            rows.Add(new ScanRow(shape, dtype, referenceTiming, referenceMemory));
        }
        return rows;
    }

    /// <summary>
    /// Forward alone runs under no_grad (the inference cost). Forward+backward runs with autograd and
    /// computes every input's gradient; backward is timed directly inside it, between a device
    /// synchronisation after the forward and one after the backward.
    /// </summary>
    private static ScanTiming Measure(IMambaKernels kernels, ScanInputs inputs, Tensor dout, DeviceClock clock, int warmup, int reps)
    {
        try
        {
            var forward = new List<double>();
            var total = new List<double>();
            var backward = new List<double>();
            for (int i = 0; i < warmup + reps; i++)
            {
                using (var scope = NewDisposeScope())
                using (no_grad())
                {
                    clock.Start();
                    inputs.Run(kernels);
                    double ms = clock.ElapsedMs();
                    if (i >= warmup) forward.Add(ms);
                }
                using (var scope = NewDisposeScope())
                {
                    clock.Start();
                    var output = inputs.Run(kernels);
                    double forwardMs = clock.ElapsedMs();
                    autograd.grad(new[] { output }, inputs.Differentiable, new[] { dout });
                    double totalMs = clock.ElapsedMs();
                    if (i >= warmup) { total.Add(totalMs); backward.Add(totalMs - forwardMs); }
                }
            }
            return new ScanTiming(kernels.Name, reps, DeviceClock.Median(forward), DeviceClock.Median(total), DeviceClock.Median(backward), null);
        }
        catch (Exception e)
        {
            return ScanTiming.Failed(kernels.Name, e.GetType().Name + ": " + e.Message.Split('\n')[0]);
        }
    }
}
