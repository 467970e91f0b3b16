using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>One (batch, channels, length, state) problem size of the selective scan.</summary>
public sealed record ScanShape(int Batch, int Dim, int Length, int State)
{
    /// <summary>Parses "B,D,L,N" or "BxDxLxN".</summary>
    public static ScanShape Parse(string text)
    {
        var parts = text.Split(',', 'x', 'X');
        if (parts.Length != 4 || !parts.All(p => int.TryParse(p, out int v) && v > 0))
            throw new ArgumentException($"a shape is four positive integers B,D,L,N (or BxDxLxN), got '{text}'");
        var n = parts.Select(int.Parse).ToArray();
        return new ScanShape(n[0], n[1], n[2], n[3]);
    }

    /// <summary>The form the command line and the probe child take.</summary>
    public string Arg => $"{Batch}x{Dim}x{Length}x{State}";

    public override string ToString() => $"({Batch},{Dim},{Length},{State})";
}

/// <summary>
/// The command line: <c>scan</c>, <c>train</c>, or the internal <c>--probe</c> child. Every option is
/// "--name value" or a bare "--flag"; unknown options are an error so a typo never silently benchmarks
/// the defaults.
/// </summary>
public sealed class BenchmarkOptions
{
    public string Command { get; private set; } = "";
    public string DeviceName { get; private set; } = "cpu";
    public bool IsCuda => DeviceName == "cuda";
    public Device Device => IsCuda ? CUDA : CPU;
    public string? OutFile { get; private set; }
    public string? GpuName { get; private set; }

    // scan
    public List<ScanShape> Shapes { get; } = new();
    public List<ScalarType> DTypes { get; } = new();
    public int Reps { get; private set; }
    public int Warmup { get; private set; }
    /// <summary>The reference takes seconds per call at large shapes: it gets at most this many timed reps.</summary>
    public int ReferenceReps { get; private set; } = 3;
    /// <summary>Untimed reference runs (scan calls or training steps) before timing; 0 saves minutes on big problems.</summary>
    public int ReferenceWarmup { get; private set; } = 1;
    public bool SkipReference { get; private set; }
    public bool SkipMemory { get; private set; }

    // ssd
    public List<SsdShape> SsdShapes { get; } = new();
    /// <summary>The SSD's chunk hint (Mamba-2's default chunk_size is 256; the CPU kernels cut it to 32).</summary>
    public int Chunk { get; private set; } = 256;

    // train
    public int Batch { get; private set; }
    public int Length { get; private set; }
    public int Layers { get; private set; } = 24;
    public int Hidden { get; private set; } = 768;
    public int Vocab { get; private set; } = 50280;
    /// <summary>train: the mixer family, "mamba1" or "mamba2" (mamba2-130m's mixer: heads of 64, state 128, one group).</summary>
    public string Architecture { get; private set; } = "mamba1";
    public int Steps { get; private set; }
    public int WarmupSteps { get; private set; } = 2;
    public bool CompareReference { get; private set; }
    public int ReferenceSteps { get; private set; } = 2;
    public double LearningRate { get; private set; } = 1e-4;
    /// <summary>After the timed steps, this many more steps with a device sync between phases (0 = none).</summary>
    public int PhaseSteps { get; private set; }
    /// <summary>"fused" (the library's FusedAdamW, default) or "torch" (TorchSharp's AdamW).</summary>
    public string Optimizer { get; private set; } = "fused";

    // probe (child process)
    public string? ProbeKernel { get; private set; }

    public static readonly string Usage = """
        usage:
          Mamba.Benchmarks scan  [--device cpu|cuda] [--shapes BxDxLxN,...] [--dtypes fp32,bf16] [--reps N]
                                 [--warmup N] [--reference-reps N] [--reference-warmup N] [--no-reference] [--no-memory]
                                 [--gpu-name NAME] [--out FILE]
          Mamba.Benchmarks ssd   [--device cpu|cuda] [--ssd-shapes BxLxHxPxN,...] [--chunk N] [--dtypes fp32,bf16]
                                 [--reps N] [--warmup N] [--gpu-name NAME] [--out FILE]
          Mamba.Benchmarks gated-norm [--device cpu|cuda] [--batch N] [--length N] [--hidden N] [--dtypes fp32,bf16]
                                 [--reps N] [--warmup N] [--gpu-name NAME] [--out FILE]
          Mamba.Benchmarks train [--device cpu|cuda] [--dtype fp32|bf16] [--batch N] [--length N] [--layers N]
                                 [--hidden N] [--vocab N] [--steps N] [--warmup-steps N] [--lr X]
                                 [--compare-reference] [--reference-steps N] [--reference-warmup N]
                                 [--phases N] [--optimizer fused|torch] [--gpu-name NAME] [--out FILE]
        defaults: scan on cuda: shapes 4x1536x1024x16,8x2048x2048x16,1x1024x8192x16, fp32 and bf16, 20 reps;
                  scan on cpu: shapes 1x1536x1024x16,4x768x512x16, fp32, 5 reps; warm-up 3 (cuda) or 1 (cpu);
                  reference: at most 3 reps after 1 warm-up. --out appends the markdown to FILE.
                  ssd: Mamba-2's SSD scan next to the Mamba-1 scan at equal (batch, length, heads x head_dim), state 16;
                  shapes 1x1024x24x64x128 on cpu (Mamba2-130m's 24 heads of 64, state 128), 8x2048x24x64x128 on cuda;
                  chunk 256; reps and warm-up as scan.
                  gated-norm: Mamba-2's gated RMSNorm over batch x length rows of 2 x hidden, native and reference;
                  batch and length as train, hidden 768; reps and warm-up as scan.
                  train: Mamba-130M sizes (24 layers, hidden 768, vocab 50280, state 16, expand 2), AdamW;
                         --architecture mamba2: mamba2-130m's mixer (heads of 64, state 128, one group);
                  batch 8 x length 1024 on cuda, 1 x 256 on cpu; 2 warm-up steps, then 10 timed steps on cuda,
                  3 on cpu; reference (with --compare-reference): 1 warm-up step, 2 timed steps.
                  --optimizer: fused (FusedAdamW, what the library's trainers use; default) or torch (TorchSharp's AdamW).
                  --phases N: N more steps, synchronised between forward, loss, backward and optimiser, whose
                  mean milliseconds go to stderr and the notes (where a step's time goes; slower than unsynchronised).
        """;

    public static BenchmarkOptions Parse(string[] args)
    {
        var o = new BenchmarkOptions();
        int i = 0;
        string Next(string name) => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
        int PositiveInt(string name)
        {
            string v = Next(name);
            return int.TryParse(v, out int n) && n > 0 ? n : throw new ArgumentException($"{name} must be a positive integer, got '{v}'");
        }
        int? reps = null, warmup = null, batch = null, length = null, steps = null;
        ScalarType? trainType = null;
        if (args.Length > 0 && !args[0].StartsWith("--")) { o.Command = args[0]; i = 1; }
        for (; i < args.Length; i++)
        {
            string a = args[i];
            switch (a)
            {
                case "--device":
                    o.DeviceName = Next(a).ToLowerInvariant();
                    if (o.DeviceName is not ("cpu" or "cuda")) throw new ArgumentException($"--device must be cpu or cuda, got '{o.DeviceName}'");
                    break;
                case "--out": o.OutFile = Next(a); break;
                case "--gpu-name": o.GpuName = Next(a); break;
                case "--shapes": o.Shapes.AddRange(Next(a).Split(new[] { ';', ' ' }, StringSplitOptions.RemoveEmptyEntries)
                    .SelectMany(s => s.Contains('x') || s.Contains('X') ? s.Split(',') : new[] { s }).Select(ScanShape.Parse)); break;
                case "--shape": o.Shapes.Add(ScanShape.Parse(Next(a))); break;
                case "--dtypes": o.DTypes.AddRange(Next(a).Split(',').Select(ParseDType)); break;
                case "--dtype": trainType = ParseDType(Next(a)); o.DTypes.Add(trainType.Value); break;
                case "--reps": reps = PositiveInt(a); break;
                case "--warmup": warmup = int.Parse(Next(a)); break;
                case "--reference-reps": o.ReferenceReps = PositiveInt(a); break;
                case "--reference-warmup": o.ReferenceWarmup = int.Parse(Next(a)); break;
                case "--no-reference": o.SkipReference = true; break;
                case "--no-memory": o.SkipMemory = true; break;
                case "--batch": batch = PositiveInt(a); break;
                case "--length": length = PositiveInt(a); break;
                case "--layers": o.Layers = PositiveInt(a); break;
                case "--hidden": o.Hidden = PositiveInt(a); break;
                case "--vocab": o.Vocab = PositiveInt(a); break;
                case "--architecture":
                    o.Architecture = Next(a);
                    if (o.Architecture is not ("mamba1" or "mamba2")) throw new ArgumentException($"--architecture must be mamba1 or mamba2, not '{o.Architecture}'");
                    break;
                case "--steps": steps = PositiveInt(a); break;
                case "--warmup-steps": o.WarmupSteps = int.Parse(Next(a)); break;
                case "--lr": o.LearningRate = double.Parse(Next(a), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--compare-reference": o.CompareReference = true; break;
                case "--reference-steps": o.ReferenceSteps = PositiveInt(a); break;
                case "--phases": o.PhaseSteps = PositiveInt(a); break;
                case "--optimizer":
                    o.Optimizer = Next(a);
                    if (o.Optimizer is not ("fused" or "torch")) throw new ArgumentException($"--optimizer must be fused or torch, got '{o.Optimizer}'");
                    break;
                case "--ssd-shapes": o.SsdShapes.AddRange(Next(a).Split(',', ';').Select(SsdShape.Parse)); break;
                case "--chunk": o.Chunk = PositiveInt(a); break;
                case "--probe": o.Command = "probe"; o.ProbeKernel = Next(a); break;
                case "-h" or "--help": o.Command = "help"; break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        if (o.Command is not ("scan" or "ssd" or "gated-norm" or "train" or "probe" or "help"))
            throw new ArgumentException(o.Command == "" ? "say scan, ssd, gated-norm or train" : $"unknown command '{o.Command}'");

        // Defaults differ by device: the GPU takes the paper-sized problems, the CPU smaller ones.
        if (o.Shapes.Count == 0)
            o.Shapes.AddRange(o.IsCuda
                ? new[] { new ScanShape(4, 1536, 1024, 16), new ScanShape(8, 2048, 2048, 16), new ScanShape(1, 1024, 8192, 16) }
                : new[] { new ScanShape(1, 1536, 1024, 16), new ScanShape(4, 768, 512, 16) });
        if (o.SsdShapes.Count == 0)
            o.SsdShapes.Add(o.IsCuda ? new SsdShape(8, 2048, 24, 64, 128) : new SsdShape(1, 1024, 24, 64, 128));
        if (o.DTypes.Count == 0)
            o.DTypes.AddRange(o.IsCuda ? new[] { ScalarType.Float32, ScalarType.BFloat16 } : new[] { ScalarType.Float32 });
        o.Reps = reps ?? (o.IsCuda ? 20 : 5);
        o.Warmup = warmup ?? (o.IsCuda ? 3 : 1);
        o.Batch = batch ?? (o.IsCuda ? 8 : 1);
        o.Length = length ?? (o.IsCuda ? 1024 : 256);
        o.Steps = steps ?? (o.IsCuda ? 10 : 3);
        return o;
    }

    public ScalarType TrainDType => DTypes.Count > 0 ? DTypes[0] : ScalarType.Float32;

    public static ScalarType ParseDType(string text) => text.ToLowerInvariant() switch
    {
        "fp32" or "float32" or "float" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        "fp16" or "float16" or "half" => ScalarType.Float16,
        _ => throw new ArgumentException($"dtype must be fp32, bf16 or fp16, got '{text}'"),
    };

    public static string DTypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => t.ToString(),
    };
}
