// Multi-query associative recall, MQAR (Arora et al. 2023; Dao & Gu 2024, Section 9.1): train each variant (Mamba and
// Mamba-2 by default) on one sequence length and model width, then report its accuracy at the query
// positions of held-out sequences. Run with --help for the flags; RESULTS.md is written when the run ends.
// tools/gpu/mqar-grid.sh runs the paper's grid of widths × lengths on the GPU machine and merges the tables.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Mamba.Examples.SyntheticTasks;

return ExampleEntryPoint.Run(() =>
{
    var clock = Stopwatch.StartNew();
    var flags = new CommandLineFlags(args, CommonFlags.Switches.Append("random-filler").ToArray());
    var preset = PresetFlag.Parse(flags.String("preset", "cpu", "cpu (reduced, minutes on CPU) or paper (Mamba-2 paper / Zoology sizes, GPU)"));
    bool paper = preset == Preset.Paper;
    // Paper: Figure 8 of the Mamba-2 paper trains two-layer models of width 32–256 at lengths 256, 512 and 1024 on
    // Zoology's MQAR (vocabulary 8,192). Zoology: 100,000 training sequences, 64 epochs, batch 256 at length 256, best
    // of an lr sweep, 3,000 test sequences. The preset is length 256 with 64 pairs (length / 4, the most that fit,
    // our reading of the paper's "harder task"), 64 × 100,000 / 256 = 25,000 steps of fresh data, lr 1e-3.
    // The CPU preset is the CI test's size with twice its steps: length 16, 4 pairs, vocabulary 16, width 128, batch 64
    // at lr 1e-2, which Mamba learns in a minute or two on two cores (longer sequences and width 64 learned far more
    // slowly: docs/synthetic-tasks.md).
    var defaults = new TrainingOptions
    {
        TrainLength = paper ? 256 : 16,
        Steps = paper ? 25_000 : 600,
        BatchSize = paper ? 256 : 64,
        LearningRate = paper ? 1e-3 : 1e-2,
        EvalSequences = paper ? 3000 : 256,
        EvalBatchSize = 256,
        LogEvery = paper ? 1000 : 50,
        ModelDimension = paper ? 64 : 128,
    };
    int vocab = flags.Int("vocab", paper ? 8192 : 16, "vocabulary: keys are 1 … vocab/2 − 1, values vocab/2 … vocab − 1, 0 the filler");
    int? pairsFlag = flags.OptionalInt("kv-pairs", "key-value pairs per sequence, each queried once (default: train length / 4, the most that fit)");
    double powerA = flags.Double("power-a", 0.01, "query gaps drawn ∝ (gap + 1)^(a − 1): Zoology's 0.01 favours short gaps, 1 is uniform");
    bool randomFiller = flags.Switch("random-filler", "random tokens instead of 0 between the queries (Zoology's random_non_queries)");
    var common = CommonFlags.Read(flags, defaults, RepositoryPaths.InRepository("examples/AssociativeRecall/RESULTS.md"), defaultVariants: "mamba,mamba2");
    if (flags.HelpRequested)
    {
        Console.WriteLine("Multi-query associative recall (Zoology; Mamba-2 paper, Section 9.1). Flags:\n" + flags.Usage());
        return 0;
    }
    flags.RejectUnknown();

    var options = common.Options;
    int pairs = pairsFlag ?? Math.Max(1, options.TrainLength / 4);
    var task = new MultiQueryAssociativeRecallTask(vocab, pairs, powerA, randomFiller);
    if (options.TrainLength < task.MinimumLength)
        throw new ArgumentException($"--train-length {options.TrainLength} is too short for {pairs} pairs: it must be at least {task.MinimumLength} (4 × --kv-pairs)");
    // A variant this build cannot make is reported and left out, not a failed run.
    var variants = new List<ModelVariant>();
    var skipped = new List<string>();
    foreach (var variant in common.Variants)
    {
        try { variant.Config(vocab, options.Layers, options.ModelDimension, options.StateSize); variants.Add(variant); }
        catch (NotSupportedException e) { skipped.Add(e.Message); Console.WriteLine($"skipped: {e.Message}"); }
    }
    if (variants.Count == 0) throw new NotSupportedException("no variant left to train: " + string.Join("; ", skipped));

    Console.WriteLine($"MQAR: length {options.TrainLength}, {pairs} key-value pairs, vocabulary {vocab}, power a {powerA.ToString(CultureInfo.InvariantCulture)}" +
                      $"{(randomFiller ? ", random filler" : "")}; {options.Steps} steps × batch {options.BatchSize}, lr {options.LearningRate}; " +
                      $"device {common.DeviceName}" + (options.ChecksDuringTraining() is { } rules ? $"; {rules}" : ""));
    TrainingCheckpoint.CheckBeforeTraining(task, variants, options, Console.Out);   // a mismatch fails here, before any training

    var table = new MarkdownTable("Variant", "Architecture / layer", "Length", "KV pairs", "Model dim", "State size", "Parameters",
        "Non-embedding", "lr", "Accuracy (%)", "Final train loss", "Steps run", RunReport.TrainTimeHeader(options));
    foreach (var variant in variants)
    {
        var result = SyntheticTrainer.Train(task, variant, options, common.Device, Console.Out);
        double accuracy = SyntheticTrainer.Accuracy(result.Model, task, options.TrainLength, options.EvalSequences, options.EvalBatchSize,
            new Random(SyntheticTrainer.EvaluationSeed(options.Seed, options.TrainLength)), common.Device);
        var size = ModelSize.Of(result.Model);
        long queries = (long)options.EvalSequences * pairs;
        Console.WriteLine($"{variant.Name}: accuracy {MarkdownTable.Percent(accuracy)}% ({Math.Round(accuracy * queries):N0} of {queries:N0} queries), " +
                          $"{size.Total:N0} parameters ({size.NonEmbedding:N0} outside the embedding)");
        table.AddRow(variant.Name, variant.Description, options.TrainLength.ToString(CultureInfo.InvariantCulture),
            pairs.ToString(CultureInfo.InvariantCulture), options.ModelDimension.ToString(CultureInfo.InvariantCulture),
            options.StateSize.ToString(CultureInfo.InvariantCulture), size.Total.ToString("N0", CultureInfo.InvariantCulture),
            size.NonEmbedding.ToString("N0", CultureInfo.InvariantCulture), options.LearningRate.ToString("G3", CultureInfo.InvariantCulture),
            MarkdownTable.Percent(accuracy), result.FinalLoss.ToString("F4", CultureInfo.InvariantCulture), result.StepsCell,
            RunReport.Duration(result.TotalTrainTime));
        result.Model.Dispose();
    }

    string notes = $"Task: {pairs} key-value pairs (keys from ids 1–{vocab / 2 - 1}, values from {vocab / 2}–{vocab - 1}, all distinct) " +
                   $"at the start of {options.TrainLength}-token sequences, then every key once more at a random even offset of the rest " +
                   $"({(randomFiller ? "random tokens" : "id 0")} elsewhere; gaps ∝ (gap + 1)^({powerA.ToString(CultureInfo.InvariantCulture)} − 1)). " +
                   $"Accuracy is per query, argmax at the query position (a random value: {100.0 * 2 / vocab:G2}%, {vocab - vocab / 2} value ids; " +
                   $"guessing one of the sequence's {pairs} values, which needs no recall: {100.0 / pairs:G3}%)." +
                   (skipped.Count > 0 ? $"\n\nNot run: {string.Join("; ", skipped)}." : "");
    RunReport.Publish("Multi-query associative recall results", "AssociativeRecall", args, common, options,
        clock.Elapsed, table, notes);
    return 0;
});
