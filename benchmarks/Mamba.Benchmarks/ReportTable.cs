using System.Globalization;
using System.Text;

namespace Mamba.Benchmarks;

/// <summary>
/// Markdown for a closing note: the machine, how the numbers were taken, then one row per
/// (shape, dtype, kernel) or per training run. Written to stdout and, with --out, to a file.
/// </summary>
public static class ReportTable
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    public static string Scan(BenchmarkOptions o, IReadOnlyList<ScanRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("### Selective scan: NativeKernels vs ReferenceKernels");
        sb.AppendLine();
        foreach (var line in MachineInfo.Describe(o)) sb.AppendLine(line);
        sb.AppendLine($"- Inputs: contiguous u, Δ, z (B,D,L), B, C (B,N,L); z gate, D skip, Δ bias and softplus on; A = -(1..N); Δ = softplus⁻¹(U(log 0.01, log 0.1)).");
        sb.AppendLine($"- Times: median of the timed reps after warm-up ({o.Warmup} for native, {o.ReferenceWarmup} for reference); the reference is capped at {o.ReferenceReps} reps (it takes seconds at large shapes).");
        sb.AppendLine("  fwd = forward under no_grad; fwd+bwd = forward with autograd + torch.autograd.grad for all 8 inputs; bwd = measured directly inside fwd+bwd, between a synchronisation after the forward and one after the backward.");
        if (o.IsCuda) sb.AppendLine("  CUDA: torch.cuda.synchronize(device) before starting and before reading the clock.");
        sb.AppendLine($"- fwd GB/s = {ScanInputs.ForwardBytesFormula} / fwd time / 1e9, each row with its own fwd time (the native row is the kernel's effective bandwidth).");
        sb.AppendLine(o.IsCuda
            ? "- Peak extra memory: one fwd+bwd in a child process per kernel; growth of device used memory (cudaMemGetInfo) after the inputs exist, i.e. PyTorch caching-allocator **reserved** memory at the peak, including the output and input gradients."
            : "- Peak extra memory: one fwd+bwd in a child process per kernel; peak resident set (VmHWM, reset via /proc/self/clear_refs after creating the inputs) minus VmRSS before, including the output and input gradients.");
        sb.AppendLine("- Ratios on the native row: memory = native / reference (lower is better for native); speed = reference time / native time (higher is better for native).");
        sb.AppendLine();
        sb.AppendLine("| shape (B,D,L,N) | dtype | kernel | reps | fwd ms | fwd+bwd ms | bwd ms | fwd GB/s | peak extra MiB (fwd+bwd) | mem native/ref | speed ref/native fwd | speed ref/native fwd+bwd |");
        sb.AppendLine("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var row in rows)
        {
            var t = row.Timing;
            var reference = rows.FirstOrDefault(r => r.Shape == row.Shape && r.DType == row.DType && r.Timing.Kernel == "reference");
            bool isNative = t.Kernel != "reference";
            string memRatio = "—", speedFwd = "—", speedTotal = "—";
            if (isNative && reference is not null)
            {
                memRatio = row.Memory.Bytes is long n && reference.Memory.Bytes is long r && r > 0 ? F((double)n / r, 3) : "n/a";
                speedFwd = Ratio(reference.Timing.ForwardMs, t.ForwardMs);
                speedTotal = Ratio(reference.Timing.ForwardBackwardMs, t.ForwardBackwardMs);
            }
            double gbps = ScanInputs.ForwardBytes(row.Shape, row.DType) / (t.ForwardMs * 1e-3) / 1e9;
            string kernel = t.Failure is null ? t.Kernel : $"{t.Kernel} (n/a: {t.Failure})";
            sb.AppendLine($"| {row.Shape} | {BenchmarkOptions.DTypeName(row.DType)} | {kernel} | {t.Reps} | {F(t.ForwardMs, 3)} | {F(t.ForwardBackwardMs, 3)} | {F(t.BackwardMs, 3)} | {F(gbps, 2)} | {row.Memory.Describe()} | {memRatio} | {speedFwd} | {speedTotal} |");
        }
        return sb.ToString();
    }

    public static string Train(BenchmarkOptions o, IReadOnlyList<TrainingResult> results, IReadOnlyList<string> notes)
    {
        var sb = new StringBuilder();
        sb.AppendLine("### Training throughput: Mamba causal LM, AdamW, next-token cross-entropy, random tokens");
        sb.AppendLine();
        foreach (var line in MachineInfo.Describe(o)) sb.AppendLine(line);
        sb.AppendLine($"- Model: {o.Layers} layers, hidden {o.Hidden}, vocab {o.Vocab}, {(o.Architecture == "mamba2" ? "Mamba-2 mixer: heads of 64, state 128, one group, chunk 256" : "Mamba-1 mixer: state 16")}, expand 2 (24/768/50280 = Mamba-130M sizes); batch {o.Batch} × length {o.Length}; AdamW lr {o.LearningRate.ToString(s_inv)}.");
        sb.AppendLine($"- A step = forward + loss + backward + optimizer step, synchronised; untimed warm-up steps ({o.WarmupSteps} native, {(o.CompareReference ? o.ReferenceWarmup.ToString() : "-")} reference), then the timed steps; tokens/s = batch × length × timed steps / their seconds.");
        foreach (var note in notes) sb.AppendLine($"- {note}");
        sb.AppendLine();
        sb.AppendLine("| layers | batch × length | dtype | kernel | timed steps | s/step (mean) | steps/s | tokens/s | loss (last step) |");
        sb.AppendLine("|--:|---|---|---|--:|--:|--:|--:|--:|");
        foreach (var r in results)
        {
            string kernel = r.Failure is null ? r.Kernel : $"{r.Kernel} (n/a: {r.Failure})";
            double seconds = r.Seconds / r.Steps;
            sb.AppendLine($"| {o.Layers} | {o.Batch} × {o.Length} | {BenchmarkOptions.DTypeName(r.DType)} | {kernel} | {r.Steps} | {F(seconds, 3)} | {F(1 / seconds, 3)} | {F(r.TokensPerSecond, 1)} | {F(r.LastLoss, 4)} |");
        }
        return sb.ToString();
    }

    /// <summary>Prints the report and, when asked, appends it to the --out file.</summary>
    public static void Emit(BenchmarkOptions o, string markdown)
    {
        Console.WriteLine(markdown);
        if (o.OutFile is not null)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(o.OutFile));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            File.AppendAllText(o.OutFile, markdown + Environment.NewLine);
        }
    }

    /// <summary>v with <paramref name="digits"/> decimals (invariant culture), or "n/a" when it is not finite.</summary>
    internal static string F(double v, int digits) => double.IsFinite(v) ? v.ToString("F" + digits, s_inv) : "n/a";

    private static string Ratio(double reference, double native) =>
        double.IsFinite(reference) && double.IsFinite(native) && native > 0 ? F(reference / native, 2) + "×" : "n/a";
}
