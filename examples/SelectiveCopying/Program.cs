// Selective copying (Gu & Dao 2023, Table 1): train each model variant on fresh random sequences and report the
// accuracy of the copied tokens. Run with --help for the flags; RESULTS.md is written when the run ends.
using System.Diagnostics;
using Microsoft.ML.Mamba.Examples.SyntheticTasks;

return ExampleEntryPoint.Run(() =>
{
    var clock = Stopwatch.StartNew();
    var flags = new CommandLineFlags(args, CommonFlags.Switches);
    var preset = PresetFlag.Parse(flags.String("preset", "cpu", "cpu (reduced, minutes on CPU) or paper (Appendix E.1 sizes, GPU)"));
    bool paper = preset == Preset.Paper;
    // Paper: length 4096, 16 data tokens, vocabulary 16; 400K steps of batch 64 at lr 1e-4 (Appendix E.1). The CPU
    // preset is 128 times shorter with 4 data tokens and a larger learning rate, so it learns in minutes.
    var defaults = new TrainingOptions
    {
        TrainLength = paper ? 4096 : 32,
        Steps = paper ? 400_000 : 600,
        BatchSize = paper ? 64 : 32,
        LearningRate = paper ? 1e-4 : 1e-2,
        EvalSequences = paper ? 1024 : 256,
        LogEvery = paper ? 1000 : 50,
    };
    int vocab = flags.Int("vocab", 16, "vocabulary size, noise and marker tokens included");
    int dataTokens = flags.Int("data-tokens", paper ? 16 : 4, "data tokens to memorize and copy per sequence");
    var common = CommonFlags.Read(flags, defaults, RepositoryPaths.InRepository("examples/SelectiveCopying/RESULTS.md"));
    if (flags.HelpRequested)
    {
        Console.WriteLine("Selective copying (Gu & Dao 2023, Section 4.1.1). Flags:\n" + flags.Usage());
        return 0;
    }
    flags.RejectUnknown();

    var task = new SelectiveCopyingTask(vocab, dataTokens);
    var options = common.Options;
    Console.WriteLine($"selective copying: length {options.TrainLength}, {dataTokens} data tokens, vocabulary {vocab}; " +
                      $"{options.Steps} steps × batch {options.BatchSize}, lr {options.LearningRate}; device {common.DeviceName}" +
                      (options.ChecksDuringTraining() is { } rules ? $"; {rules}" : ""));
    TrainingCheckpoint.CheckBeforeTraining(task, common.Variants, options, Console.Out);   // a mismatch fails here, before any training

    var table = new MarkdownTable("Variant", "Architecture / layer", "Accuracy (%)", "Final train loss", "Steps run", RunReport.TrainTimeHeader(options));
    foreach (var variant in common.Variants)
    {
        var result = SyntheticTrainer.Train(task, variant, options, common.Device, Console.Out);
        double accuracy = SyntheticTrainer.Accuracy(result.Model, task, options.TrainLength, options.EvalSequences, options.EvalBatchSize,
            new Random(SyntheticTrainer.EvaluationSeed(options.Seed, options.TrainLength)), common.Device);
        // The count too: what a bar like 99.8% is decided on, exactly.
        long copied = (long)options.EvalSequences * dataTokens;
        Console.WriteLine($"{variant.Name}: accuracy {MarkdownTable.Percent(accuracy)}% " +
                          $"({Math.Round(accuracy * copied):N0} of {copied:N0} copied tokens)");
        table.AddRow(variant.Name, variant.Description, MarkdownTable.Percent(accuracy), result.FinalLoss.ToString("F4"),
            result.StepsCell, RunReport.Duration(result.TotalTrainTime));
        result.Model.Dispose();
    }

    string notes = $"Task: sequences of {options.TrainLength} tokens, the last {dataTokens} of them markers; {dataTokens} data tokens " +
                   $"(ids 1–{vocab - 2}) at random positions among noise (id 0) before them. Accuracy is per copied token, " +
                   $"argmax at each marker position (chance ≈ {100.0 / (vocab - 2):F1}%).";
    RunReport.Publish("Selective copying results", "SelectiveCopying", args, common, options, clock.Elapsed, table, notes);
    return 0;
});
