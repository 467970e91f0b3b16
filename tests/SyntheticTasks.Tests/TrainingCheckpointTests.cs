using System.Text.Json;
using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>
/// The synthetic harness's checkpoints (--checkpoint-dir, --resume) and its one-time learning-rate step down
/// (--lr-drop-at, --lr-drop-to), on a tiny CPU model trained for a few steps.
/// </summary>
[Collection(nameof(SeededTraining))]
public sealed class TrainingCheckpointTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mamba-ckpt-" + Guid.NewGuid().ToString("N"));
    private readonly SelectiveCopyingTask _task = new(vocabSize: 16, dataTokens: 2);

    private TrainingOptions Options(int steps) =>
        TinyTraining.Options with { Steps = steps, EvalEvery = 2, CheckpointDirectory = _root };

    public TrainingCheckpointTests() => set_num_threads(1);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void ResumingContinuesTheSavedModelAtTheSavedStep()
    {
        var first = SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(3), CPU);
        var saved = first.Model.parameters().Select(p => p.detach().clone()).ToArray();
        first.Model.Dispose();

        // --resume with --steps equal to the steps done trains nothing and hands back the saved weights.
        var again = SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(3) with { Resume = true }, CPU);
        using (again.Model)
        {
            Assert.Equal(3, again.Steps);
            Assert.Equal(0, again.StepsThisRun);
            var loaded = again.Model.parameters().ToArray();
            Assert.Equal(saved.Length, loaded.Length);
            for (int i = 0; i < saved.Length; i++) Assert.True(saved[i].equal(loaded[i]).all().item<bool>(), $"parameter {i} differs after the resume");
        }

        var longer = SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(5) with { Resume = true }, CPU);
        longer.Model.Dispose();
        Assert.Equal((3, 2, 5), (longer.StepsBefore, longer.StepsThisRun, longer.Steps));
        Assert.Equal("3 + 2 = 5", longer.StepsCell);
        foreach (var t in saved) t.Dispose();
    }

    [Fact]
    public void AnExistingCheckpointIsNotOverwrittenWithoutResume()
    {
        SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(2), CPU).Model.Dispose();
        var error = Assert.Throws<ArgumentException>(() => SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(2), CPU));
        Assert.Contains("--resume", error.Message);
    }

    [Fact]
    public void TheLearningRateStepsDownOnceAndTheCheckpointRemembersIt()
    {
        // A threshold of 0 is met at the first validation (step 2), whatever the accuracy.
        var dropping = Options(4) with { LrDropAt = 0, LrDropTo = 1e-3 };
        var log = new StringWriter();
        var result = SyntheticTrainer.Train(_task, ModelVariant.Mamba, dropping, CPU, log);
        result.Model.Dispose();
        Assert.Equal(2, result.LrDroppedAtStep);
        Assert.Equal("4; lr lowered after step 2", result.StepsCell);
        Assert.Single(log.ToString().Split('\n'), line => line.Contains("lr 0.01 → 0.001"));

        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(_root, "mamba", TrainingCheckpoint.StateFileName))).RootElement;
        Assert.Equal(2, state.GetProperty("lr_dropped_at_step").GetInt32());
        Assert.Equal(1e-3, state.GetProperty("lr_drop_to").GetDouble());

        // Resumed, it stays lowered (and does not announce a second drop).
        var resumedLog = new StringWriter();
        var resumed = SyntheticTrainer.Train(_task, ModelVariant.Mamba, dropping with { Steps = 6, Resume = true }, CPU, resumedLog);
        resumed.Model.Dispose();
        Assert.Equal(2, resumed.LrDroppedAtStep);
        Assert.DoesNotContain("→", resumedLog.ToString());
    }

    [Fact]
    public void TheLoweredRateIsTheOneAdamUses()
    {
        // Lowered to ~0 after step 2, steps 3 and 4 leave the weights where two plain steps put them.
        var twoSteps = SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(2) with { CheckpointDirectory = null }, CPU);
        var frozenAfterTwo = SyntheticTrainer.Train(_task, ModelVariant.Mamba,
            Options(4) with { CheckpointDirectory = null, LrDropAt = 0, LrDropTo = 1e-30 }, CPU);
        var fourSteps = SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(4) with { CheckpointDirectory = null }, CPU);
        using (twoSteps.Model)
        using (frozenAfterTwo.Model)
        using (fourSteps.Model)
        {
            var expected = twoSteps.Model.parameters().ToArray();
            var frozen = frozenAfterTwo.Model.parameters().ToArray();
            var moved = fourSteps.Model.parameters().ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.True(expected[i].allclose(frozen[i], rtol: 0, atol: 1e-12), $"parameter {i} moved after the lr was lowered to 1e-30");
            Assert.Contains(Enumerable.Range(0, expected.Length), i => !expected[i].allclose(moved[i], rtol: 0, atol: 1e-6));
        }
    }

    [Fact]
    public void ResumingWithADifferentLearningRatePlanIsRefused()
    {
        SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(2), CPU).Model.Dispose();
        var error = Assert.Throws<ArgumentException>(() => SyntheticTrainer.Train(_task, ModelVariant.Mamba,
            Options(4) with { Resume = true, LrDropAt = 0.5, LrDropTo = 1e-3 }, CPU));
        Assert.Contains("--lr-drop-at/--lr-drop-to are 50%/0.001 here but unset in the checkpoint", error.Message);
    }

    [Theory]
    [InlineData("--lr-drop-at", "90")]                                            // without its partner
    [InlineData("--lr-drop-to", "1e-3")]
    [InlineData("--lr-drop-at", "90", "--lr-drop-to", "1e-3")]                    // without --eval-every
    [InlineData("--lr-drop-at", "0", "--lr-drop-to", "1e-3", "--eval-every", "5")]
    [InlineData("--lr-drop-at", "90", "--lr-drop-to", "0", "--eval-every", "5")]
    public void LrDropFlagsAreChecked(params string[] args)
    {
        var flags = new CommandLineFlags(args.Append("--device").Append("cpu").ToArray(), CommonFlags.Switches);
        Assert.Throws<ArgumentException>(() => CommonFlags.Read(flags, new TrainingOptions(), Path.Combine(_root, "r.md")));
    }

    [Fact]
    public void LrDropFlagsReachTheOptions()
    {
        var flags = new CommandLineFlags(new[] { "--lr-drop-at", "90", "--lr-drop-to", "1e-3", "--eval-every", "5", "--device", "cpu" },
            CommonFlags.Switches);
        var options = CommonFlags.Read(flags, new TrainingOptions(), Path.Combine(_root, "r.md")).Options;
        Assert.Equal(0.9, options.LrDropAt!.Value, 12);
        Assert.Equal(1e-3, options.LrDropTo);
        Assert.Contains("lr lowered once to 0.001 when validation accuracy first reaches 90%", options.ChecksDuringTraining());
    }
}
