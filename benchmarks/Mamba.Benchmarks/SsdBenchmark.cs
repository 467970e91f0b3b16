using System.Text;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>One (batch, length, heads, head_dim, state) problem size of Mamba-2's SSD scan.</summary>
public sealed record SsdShape(int Batch, int Length, int Heads, int HeadDim, int State)
{
    /// <summary>Parses "BxLxHxPxN".</summary>
    public static SsdShape Parse(string text)
    {
        var parts = text.Split(',', 'x', 'X');
        if (parts.Length != 5 || !parts.All(p => int.TryParse(p, out int v) && v > 0))
            throw new ArgumentException($"an SSD shape is five positive integers BxLxHxPxN, got '{text}'");
        var n = parts.Select(int.Parse).ToArray();
        return new SsdShape(n[0], n[1], n[2], n[3], n[4]);
    }

    /// <summary>Channels: heads × head_dim, the Mamba-1 scan's dim at equal size.</summary>
    public int Inner => Heads * HeadDim;

    public override string ToString() => $"({Batch},{Length},{Heads},{HeadDim},{State})";
}

/// <summary>
/// The <c>ssd</c> subcommand: forward and forward+backward of NativeKernels' SSD scan (Mamba-2) next to its Mamba-1
/// selective scan at equal (batch, length, inner channels) with state 16, in ms and GFLOP/s.
/// </summary>
public static class SsdBenchmark
{
    // Flops per state update (one (b, t, channel, n) element) of the recurrent form, the same for both families:
    // h = a·h + (Δx)·B is a multiply and a multiply-add (3), y += C·h a multiply-add (2); the backward counted as twice
    // the forward. The chunked SSD does other arithmetic; these are work rates at the problem's size, not hardware flops.
    private const double ForwardFlops = 5, BackwardFlops = 10;

    private sealed record Row(string Kernel, string Shape, double Updates, double ForwardMs, double TotalMs, string? Failure);

    public static string Run(BenchmarkOptions o)
    {
        var clock = new DeviceClock(o.Device);
        var native = new NativeKernels();
        string? missing = MachineInfo.NativeUnavailableReason(o.IsCuda);
        var rows = new List<(SsdShape Shape, ScalarType DType, Row Ssd, Row Scan)>();
        foreach (var shape in o.SsdShapes)
        foreach (var dtype in o.DTypes)
        {
            Console.Error.WriteLine($"ssd {shape} {BenchmarkOptions.DTypeName(dtype)} chunk {o.Chunk}: timing ...");
            var ssd = missing is null ? MeasureSsd(native, shape, dtype, o, clock) : new Row("native SSD", shape.ToString(), 0, double.NaN, double.NaN, missing);
            var scanShape = new ScanShape(shape.Batch, shape.Inner, shape.Length, 16);
            var scan = missing is null ? MeasureScan(native, scanShape, dtype, o, clock) : new Row("native Mamba-1 scan", scanShape.ToString(), 0, double.NaN, double.NaN, missing);
            foreach (var r in new[] { ssd, scan })
                Console.Error.WriteLine(r.Failure is null ? $"  {r.Kernel}: fwd {r.ForwardMs:F3} ms, fwd+bwd {r.TotalMs:F3} ms" : $"  {r.Kernel}: n/a ({r.Failure})");
            rows.Add((shape, dtype, ssd, scan));
        }
        return Report(o, rows);
    }

    private static Row MeasureSsd(IMamba2Kernels kernels, SsdShape s, ScalarType dtype, BenchmarkOptions o, DeviceClock clock)
    {
        var g = new Generator(1);
        Tensor Input(params long[] shape) => randn(shape, generator: g).to(dtype, o.Device).requires_grad_(true);
        var x = Input(s.Batch, s.Length, s.Heads, s.HeadDim);
        var dt = Input(s.Batch, s.Length, s.Heads);
        var B = Input(s.Batch, s.Length, 1, s.State);
        var C = Input(s.Batch, s.Length, 1, s.State);
        var A = (-rand(new long[] { s.Heads }, generator: g) - 0.5).to(o.Device).requires_grad_(true);
        var D = randn(new long[] { s.Heads }, generator: g).to(o.Device).requires_grad_(true);
        var bias = (randn(new long[] { s.Heads }, generator: g) * 0.5 - 2).to(o.Device).requires_grad_(true);
        var dy = randn(new long[] { s.Batch, s.Length, s.Heads, s.HeadDim }, generator: g).to(dtype, o.Device);
        Tensor Forward() => kernels.StateSpaceDual(x, dt, A, B, C, D, bias, true, 0, double.PositiveInfinity, o.Chunk).Output;
        double updates = (double)s.Batch * s.Length * s.Inner * s.State;
        return Measure("native SSD", s.ToString(), updates, Forward, new[] { x, dt, A, B, C, D, bias }, dy, o, clock);
    }

    private static Row MeasureScan(IMambaKernels kernels, ScanShape s, ScalarType dtype, BenchmarkOptions o, DeviceClock clock)
    {
        var inputs = ScanInputs.Create(s, dtype, o.Device, requiresGrad: true);
        var dout = randn(new long[] { s.Batch, s.Dim, s.Length }, dtype: dtype, device: o.Device);
        double updates = (double)s.Batch * s.Dim * s.Length * s.State;
        return Measure("native Mamba-1 scan", s.ToString(), updates, () => inputs.Run(kernels), inputs.Differentiable, dout, o, clock);
    }

    private static Row Measure(string kernel, string shape, double updates, Func<Tensor> forward, Tensor[] differentiable, Tensor dout,
        BenchmarkOptions o, DeviceClock clock)
    {
        try
        {
            var (fwd, total) = ForwardBackwardTimer.Measure(forward, differentiable, dout, o, clock);
            return new Row(kernel, shape, updates, fwd, total, null);
        }
        catch (Exception e)
        {
            return new Row(kernel, shape, updates, double.NaN, double.NaN, e.GetType().Name + ": " + e.Message.Split('\n')[0]);
        }
    }

    private static string Report(BenchmarkOptions o, List<(SsdShape Shape, ScalarType DType, Row Ssd, Row Scan)> rows)
    {
        static string F(double v, int digits) => ReportTable.F(v, digits);
        var sb = new StringBuilder();
        sb.AppendLine("### SSD scan (Mamba-2) vs selective scan (Mamba-1): NativeKernels");
        sb.AppendLine();
        foreach (var line in MachineInfo.Describe(o)) sb.AppendLine(line);
        sb.AppendLine($"- SSD: x (B,L,H,P), Δ (B,L,H), B and C (B,L,1,N) contiguous; D, Δ bias and softplus on; chunk hint {o.Chunk}. Mamba-1: the scan benchmark's inputs (z gate, D, Δ bias, softplus) at (B, D = H·P, L, N = 16).");
        sb.AppendLine($"- Times: median of {o.Reps} reps after {o.Warmup} warm-up; fwd under no_grad, fwd+bwd = forward with autograd + torch.autograd.grad of every input.");
        sb.AppendLine($"- GFLOP/s = state updates (B·L·channels·N) × {ForwardFlops} (fwd) or × {ForwardFlops + BackwardFlops} (fwd+bwd) / time: the recurrent form's arithmetic, the same count for both families (work rates at the problem's size, not hardware flops).");
        sb.AppendLine();
        sb.AppendLine("| kernel | shape | dtype | fwd ms | fwd+bwd ms | fwd GFLOP/s | fwd+bwd GFLOP/s |");
        sb.AppendLine("|---|---|---|--:|--:|--:|--:|");
        foreach (var (_, dtype, ssd, scan) in rows)
            foreach (var r in new[] { ssd, scan })
            {
                string kernel = r.Failure is null ? r.Kernel : $"{r.Kernel} (n/a: {r.Failure})";
                double gf = r.Updates * ForwardFlops / (r.ForwardMs * 1e6), gt = r.Updates * (ForwardFlops + BackwardFlops) / (r.TotalMs * 1e6);
                sb.AppendLine($"| {kernel} | {r.Shape} | {BenchmarkOptions.DTypeName(dtype)} | {F(r.ForwardMs, 2)} | {F(r.TotalMs, 2)} | {F(gf, 2)} | {F(gt, 2)} |");
            }
        return sb.ToString();
    }
}
