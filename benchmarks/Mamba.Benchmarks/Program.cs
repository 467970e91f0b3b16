using Mamba.Benchmarks;
using Microsoft.ML.Mamba;

// Entry point: parse the command line and run one subcommand (scan, ssd, gated-norm, train, or the memory probe child).
BenchmarkOptions options;
try
{
    options = BenchmarkOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(BenchmarkOptions.Usage);
    return 2;
}

// Library warnings (for example a kernel falling back to the reference) must be visible next to the numbers.
MambaLog.Message += text => Console.Error.WriteLine($"Microsoft.ML.Mamba warning: {text}");

if (options.IsCuda && !TorchSharp.torch.cuda.is_available())
{
    Console.Error.WriteLine("error: --device cuda but torch.cuda.is_available() is false");
    return 1;
}

switch (options.Command)
{
    case "help":
        Console.WriteLine(BenchmarkOptions.Usage);
        return 0;
    case "probe":
        return MemoryProbe.Run(options);
    case "scan":
        var rows = ScanBenchmark.Run(options);
        ReportTable.Emit(options, ReportTable.Scan(options, rows));
        return 0;
    case "ssd":
        ReportTable.Emit(options, SsdBenchmark.Run(options));
        return 0;
    case "gated-norm":
        ReportTable.Emit(options, GatedNormBenchmark.Run(options));
        return 0;
    case "train":
        var notes = new List<string>();
        var results = TrainingBenchmark.Run(options, notes);
        ReportTable.Emit(options, ReportTable.Train(options, results, notes));
        return 0;
    default:
        return 2;
}
