using System.Globalization;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>How one model is trained and evaluated on a synthetic task.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 8;
    /// <summary>Sequence length of every training batch.</summary>
    public int TrainLength { get; init; } = 256;
    /// <summary>Adam's learning rate, held constant (the paper uses no schedule on these tasks) unless <see cref="LrDropAt"/> is set.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>
    /// Validation accuracy (a fraction, 0–1) at which the learning rate steps down, once, to <see cref="LrDropTo"/>;
    /// null = a constant learning rate. Needs <see cref="EvalEvery"/>. A deviation from the paper's constant rate: a
    /// high rate leaves selective copying's plateau at chance sooner, but at a constant 3e-3 the trained model kept
    /// collapsing (docs/synthetic-tasks.md).
    /// </summary>
    public double? LrDropAt { get; init; }
    /// <summary>The learning rate after the step down (see <see cref="LrDropAt"/>).</summary>
    public double? LrDropTo { get; init; }
    /// <summary>Seeds the weights (torch.manual_seed) and, separately, the training and evaluation data.</summary>
    public int Seed { get; init; } = 0;
    /// <summary>Sequences scored per evaluation length.</summary>
    public int EvalSequences { get; init; } = 256;
    /// <summary>Batch size for evaluation (long sequences may need a smaller one).</summary>
    public int EvalBatchSize { get; init; } = 64;
    /// <summary>Print the running loss every this many steps (0 = never).</summary>
    public int LogEvery { get; init; } = 100;
    public int Layers { get; init; } = 2;
    public int ModelDimension { get; init; } = 64;
    public int StateSize { get; init; } = 16;
    /// <summary>
    /// Time steps per chunk of the TorchSharp reference scan while training. Its backward pass copies a whole chunk
    /// for every time step, so small chunks train several times faster (measured: chunk 4 vs the default 64 at
    /// length 256). Ignored when faster kernels are the default.
    /// </summary>
    public int ReferenceScanChunk { get; init; } = 4;

    /// <summary>
    /// Stop training a model after this much wall time (checked after every step, periodic validation included),
    /// even if <see cref="Steps"/> are not all done; null = no limit. Lets a run on a machine that kills long
    /// commands still evaluate and write its results.
    /// </summary>
    public TimeSpan? TimeLimit { get; init; }
    /// <summary>Measure accuracy on a small validation set every this many steps (0 = never).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Sequences in that validation set, drawn at <see cref="TrainLength"/>.</summary>
    public int ValidationSequences { get; init; } = 64;
    /// <summary>Stop training once validation accuracy (a fraction, 0–1) reaches this; null = never. Needs <see cref="EvalEvery"/>.</summary>
    public double? TargetAccuracy { get; init; }

    /// <summary>
    /// Where each variant's checkpoint goes (DIR/variant-name/, see <see cref="TrainingCheckpoint"/>): written when its
    /// training ends, whatever ended it, and every <see cref="CheckpointEvery"/> steps; null = no checkpoints.
    /// </summary>
    public string? CheckpointDirectory { get; init; }
    /// <summary>Also save the checkpoint every this many steps, overwriting the previous one (0 = only at the end).</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>
    /// Continue each variant from its checkpoint in <see cref="CheckpointDirectory"/> up to <see cref="Steps"/> (a
    /// variant without one starts fresh). Without it an existing checkpoint is an error rather than overwritten.
    /// </summary>
    public bool Resume { get; init; }

    /// <summary>
    /// From the step after this one, each training batch starts from the state the previous batch ended in (its
    /// sequences' final SSM states and conv windows) instead of zeros: "state passing", one of the interventions
    /// Buitrago Ruiz &amp; Gu (2025) found to make recurrent models generalise to longer sequences, because training
    /// then visits states that only long sequences reach. Null = always zeros, as in the Mamba paper. The sequences
    /// are still independent task instances of <see cref="TrainLength"/>; gradients stop at the batch boundary. A
    /// resumed run starts its carried state from zeros again.
    /// </summary>
    public int? StatePassingFrom { get; init; }

    /// <summary>
    /// Train with the language-model loss at every position: the task's target where it has one, the next input token
    /// everywhere else (random tokens there, so that part of the loss has a floor). The H3/Safari code's induction-head
    /// data (the same group's earlier work; whether the Mamba paper trained so is not stated) is built this way and
    /// tests only the query. False = only the task's positions, as we read the paper. Validation and test always score
    /// the task's positions only. On the H200 it did not learn induction heads in 183,000 steps (docs/synthetic-tasks.md).
    /// </summary>
    public bool LossOnEveryToken { get; init; }

    /// <summary>Whether training may end before <see cref="Steps"/> (a time limit or a validation target is set).</summary>
    public bool MayStopEarly => TimeLimit is not null || TargetAccuracy is not null;

    /// <summary>The time limit and validation checks, in words, or null when there are none.</summary>
    public string? ChecksDuringTraining()
    {
        var rules = new List<string>();
        if (TimeLimit is { } limit)
            rules.Add(string.Create(CultureInfo.InvariantCulture, $"at most {limit.TotalMinutes:G4} min of training per variant"));
        if (EvalEvery > 0)
            rules.Add(string.Create(CultureInfo.InvariantCulture,
                $"validation accuracy on {ValidationSequences} sequences every {EvalEvery} steps") +
                (TargetAccuracy is { } target ? string.Create(CultureInfo.InvariantCulture, $", stop once it reaches {100 * target:G4}%") : ""));
        if (StatePassingFrom is { } from)
            rules.Add(string.Create(CultureInfo.InvariantCulture, $"each batch starts from the previous batch's final state after step {from}"));
        if (LossOnEveryToken)
            rules.Add("training loss on every position's next token");
        if (LrDropAt is { } dropAt && LrDropTo is { } dropTo)
            rules.Add(string.Create(CultureInfo.InvariantCulture, $"lr lowered once to {dropTo:G} when validation accuracy first reaches {100 * dropAt:G4}%"));
        return rules.Count == 0 ? null : string.Join("; ", rules);
    }

    /// <summary>The checkpoint settings, in words, or null when there are none.</summary>
    public string? CheckpointsInWords()
    {
        if (CheckpointDirectory is not { } directory) return null;
        string every = CheckpointEvery > 0 ? string.Create(CultureInfo.InvariantCulture, $" and every {CheckpointEvery} steps") : "";
        string text = $"saved to `{Path.Combine(directory, "<variant>")}` when each variant's training ends{every}";
        if (Resume)
            text += "; resumed from there where one existed (\"Steps run\" counts the steps of earlier invocations + this one's, " +
                    "\"Train time\" is the total over all invocations; the time limit applies to this invocation only)";
        return text;
    }
}
