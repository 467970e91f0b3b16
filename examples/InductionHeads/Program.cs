// Induction heads (Gu & Dao 2023, Table 2): train each model variant at one sequence length, then test it at
// lengths 2^min … 2^max to see whether it extrapolates. Run with --help for the flags; RESULTS.md is written
// when the run ends.
using System.Diagnostics;
using Microsoft.ML.Mamba.Examples.SyntheticTasks;

return ExampleEntryPoint.Run(() =>
{
    var clock = Stopwatch.StartNew();
    var flags = new CommandLineFlags(args, CommonFlags.Switches.Append("show-misses").ToArray());
    var preset = PresetFlag.Parse(flags.String("preset", "cpu", "cpu (reduced, minutes on CPU) or paper (Appendix E.1 sizes, GPU)"));
    bool paper = preset == Preset.Paper;
    // Paper: vocabulary 16, train at 256, test at 2^6 … 2^20, lr 1e-3 for Mamba, batch 8, 25 "epochs" of 8,192 steps
    // (Appendix E.1). The steps matter: the task is learned within 10,000 of them, and what the rest adds is the
    // reach to 2^20 (docs/synthetic-tasks.md). 19 minutes on an H200 shared by six such runs. The CPU preset trains
    // at 64 with a larger batch and lr 3e-3, which learned within a few hundred steps in our CPU runs.
    var defaults = new TrainingOptions
    {
        TrainLength = paper ? 256 : 64,
        Steps = paper ? 204_800 : 500,
        BatchSize = paper ? 8 : 32,
        LearningRate = paper ? 1e-3 : 3e-3,
        EvalSequences = paper ? 512 : 128,
        LogEvery = paper ? 10_000 : 50,
    };
    int vocab = flags.Int("vocab", 16, "vocabulary size, the special token included");
    int minExponent = flags.Int("min-test-exp", 6, "shortest test length is 2^this");
    // The reference scan is sequential, so CPU runs stop at 2^9 unless asked; the paper goes to 2^20.
    int maxExponent = flags.Int("max-test-exp", paper ? 20 : 9, "longest test length is 2^this (cap it on CPU)");
    bool showMisses = flags.Switch("show-misses",
        "print each test sequence the model gets wrong: where its trigger was, the target and the prediction (at most 50 per length)");
    string missesDirectory = flags.String("save-misses", "none",
        "with --show-misses, also save each listed sequence to DIR, one byte per token (for tools/analysis/induction_memory.py --tokens)");
    var common = CommonFlags.Read(flags, defaults, RepositoryPaths.InRepository("examples/InductionHeads/RESULTS.md"));
    string? saveMisses = string.Equals(missesDirectory, "none", StringComparison.OrdinalIgnoreCase) ? null : missesDirectory;
    if (saveMisses is not null && !showMisses) throw new ArgumentException("--save-misses needs --show-misses");
    if (flags.HelpRequested)
    {
        Console.WriteLine("Induction heads (Gu & Dao 2023, Section 4.1.2). Flags:\n" + flags.Usage());
        return 0;
    }
    flags.RejectUnknown();
    if (minExponent < 2 || maxExponent < minExponent || maxExponent > 24)
        throw new ArgumentException("need 2 ≤ --min-test-exp ≤ --max-test-exp ≤ 24");

    var task = new InductionHeadsTask(vocab);
    var options = common.Options;
    var testLengths = Enumerable.Range(minExponent, maxExponent - minExponent + 1).Select(e => 1 << e).ToArray();
    Console.WriteLine($"induction heads: vocabulary {vocab}; train at {options.TrainLength}, {options.Steps} steps × batch {options.BatchSize}, " +
                      $"lr {options.LearningRate}; test at {string.Join(", ", testLengths)}; device {common.DeviceName}" +
                      (options.ChecksDuringTraining() is { } rules ? $"; {rules}" : ""));
    TrainingCheckpoint.CheckBeforeTraining(task, common.Variants, options, Console.Out);   // a mismatch fails here, before any training

    var headers = new List<string> { "Variant", "Architecture / layer" };
    headers.AddRange(testLengths.Select(n => n == options.TrainLength ? $"{n} (train)" : n.ToString()));
    headers.Add("Steps run");
    headers.Add(RunReport.TrainTimeHeader(options));
    var table = new MarkdownTable(headers.ToArray());
    foreach (var variant in common.Variants)
    {
        var result = SyntheticTrainer.Train(task, variant, options, common.Device, Console.Out);
        var row = new List<string> { variant.Name, variant.Description };
        foreach (int length in testLengths)
        {
            var started = clock.Elapsed;
            var misses = showMisses ? new InductionMissLog(task, length, Console.Out, dumpDirectory: saveMisses) : null;
            double accuracy = SyntheticTrainer.Accuracy(result.Model, task, length, options.EvalSequences, options.EvalBatchSize,
                new Random(SyntheticTrainer.EvaluationSeed(options.Seed, length)), common.Device, misses is null ? null : misses.Inspect);
            Console.WriteLine($"{variant.Name}: length {length,8}  accuracy {MarkdownTable.Percent(accuracy)}%  ({RunReport.Duration(clock.Elapsed - started)})");
            row.Add(MarkdownTable.Percent(accuracy));
        }
        row.Add(result.StepsCell);
        row.Add(RunReport.Duration(result.TotalTrainTime));
        table.AddRow(row.ToArray());
        result.Model.Dispose();
    }

    string notes = $"Task: random tokens (ids 0–{vocab - 2}) with the special token (id {vocab - 1}) once at a random position, " +
                   $"followed by the target; the sequence ends with the special token, where the model must predict the target. " +
                   $"Accuracy (%) at that last position, per test length (chance ≈ {100.0 / (vocab - 1):F1}%).";
    RunReport.Publish("Induction heads results", "InductionHeads", args, common, options, clock.Elapsed, table, notes);
    return 0;
});
