using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>
/// The <c>gated-norm</c> subcommand: Mamba-2's gated RMSNorm, norm(y·SiLU(z))·weight over (batch·length) rows of
/// 2·hidden values (one group, as mamba2-130m), through NativeKernels (one fused op each way) and through the
/// reference kernels (TorchSharp ops, what the mixer ran before), forward and forward+backward, in the same run; with
/// the bytes the fused pair must move as a fraction of the GPU's peak bandwidth.
/// </summary>
public static class GatedNormBenchmark
{
    private sealed record Row(string Kernels, ScalarType DType, double ForwardMs, double TotalMs, string? Failure);

    public static string Run(BenchmarkOptions o)
    {
        long rows = (long)o.Batch * o.Length, size = 2L * o.Hidden;
        var clock = new DeviceClock(o.Device);
        var results = new List<Row>();
        foreach (var dtype in o.DTypes)
        {
            foreach (var (name, kernels) in new (string, IMamba2Kernels)[] { ("native", new NativeKernels()), ("reference", new ReferenceKernels()) })
            {
                Console.Error.WriteLine($"gated-norm {name} {BenchmarkOptions.DTypeName(dtype)} ({rows} x {size}): timing ...");
                var row = Measure(name, kernels, rows, size, dtype, o, clock);
                Console.Error.WriteLine(row.Failure is null ? $"  fwd {row.ForwardMs:F3} ms, fwd+bwd {row.TotalMs:F3} ms" : $"  n/a ({row.Failure})");
                results.Add(row);
            }
        }
        return Report(o, rows, size, results);
    }

    private static Row Measure(string name, IMamba2Kernels kernels, long rows, long size, ScalarType dtype, BenchmarkOptions o, DeviceClock clock)
    {
        try
        {
            var g = new Generator(1);
            var y = randn(new[] { rows, size }, generator: g).to(dtype, o.Device).requires_grad_(true);
            var z = randn(new[] { rows, size }, generator: g).to(dtype, o.Device).requires_grad_(true);
            var w = (randn(new[] { size }, generator: g) * 0.1 + 1).to(o.Device).requires_grad_(true);
            var dout = randn(new[] { rows, size }, generator: g).to(dtype, o.Device);
            var (fwd, total) = ForwardBackwardTimer.Measure(() => kernels.GatedRmsNorm(y, z, w, 1, 1e-5), new[] { y, z, w }, dout, o, clock);
            return new Row(name, dtype, fwd, total, null);
        }
        catch (Exception e)
        {
            return new Row(name, dtype, double.NaN, double.NaN, e.GetType().Name + ": " + e.Message.Split('\n')[0]);
        }
    }

    private static string Report(BenchmarkOptions o, long rows, long size, List<Row> results)
    {
        static string F(double v, int digits) => ReportTable.F(v, digits);
        double peak = o.IsCuda ? PeakBandwidth() : 0;
        var sb = new StringBuilder();
        sb.AppendLine("### Gated RMSNorm (Mamba-2's norm before out_proj): NativeKernels against ReferenceKernels");
        sb.AppendLine();
        foreach (var line in MachineInfo.Describe(o)) sb.AppendLine(line);
        sb.AppendLine($"- y, z, dout ({rows}, {size}) = batch {o.Batch} × length {o.Length} rows of 2 × hidden {o.Hidden}; fp32 weight; one group.");
        sb.AppendLine($"- Times: median of {o.Reps} reps after {o.Warmup} warm-up; fwd under no_grad, fwd+bwd = forward with autograd + torch.autograd.grad of y, z and the weight.");
        sb.AppendLine("- Bytes: what the fused pair must move, y and z read and the output written forward (3 rows' worth), then y, z and dout read and dy and dz written backward (5 more); " +
                      (peak > 0 ? $"GB/s as a fraction of the device's {peak / 1e9:F0} GB/s peak." : "no peak known for the CPU."));
        sb.AppendLine();
        sb.AppendLine("| kernels | dtype | fwd ms | fwd+bwd ms | reference / native, fwd+bwd | fwd+bwd GB/s |");
        sb.AppendLine("|---|---|--:|--:|--:|--:|");
        foreach (var r in results)
        {
            double bytes = 8.0 * rows * size * ElementSize(r.DType);
            double gbs = bytes / (r.TotalMs * 1e6);
            var native = results.First(n => n.DType == r.DType && n.Kernels == "native");
            string ratio = F(r.TotalMs / native.TotalMs, 2) + "×";
            string kernels = r.Failure is null ? r.Kernels : $"{r.Kernels} (n/a: {r.Failure})";
            string bandwidth = F(gbs, 1) + (peak > 0 && double.IsFinite(gbs) ? $" ({gbs * 1e9 / peak:P0} of peak)" : "");
            sb.AppendLine($"| {kernels} | {BenchmarkOptions.DTypeName(r.DType)} | {F(r.ForwardMs, 3)} | {F(r.TotalMs, 3)} | {ratio} | {bandwidth} |");
        }
        return sb.ToString();
    }

    private static int ElementSize(ScalarType t) => t == ScalarType.Float32 ? 4 : 2;

    private static double PeakBandwidth()
    {
        try { return mamba_cuda_peak_bandwidth(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 0; }
    }

    // libmamba_native's device query (mamba_decoder.h), as DecodeBenchmark reads it.
    [DllImport("mamba_native")]
    private static extern double mamba_cuda_peak_bandwidth(int device);
}
