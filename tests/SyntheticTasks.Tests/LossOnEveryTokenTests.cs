using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>--loss-on-every-token: training scores every position's next token; tests still score the task's positions.</summary>
[Collection(nameof(SeededTraining))]
public sealed class LossOnEveryTokenTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mamba-every-token-" + Guid.NewGuid().ToString("N"));
    private readonly InductionHeadsTask _task = new(vocabSize: 16);

    private static TrainingOptions Options(bool everyToken) => TinyTraining.Options with { LossOnEveryToken = everyToken };

    public LossOnEveryTokenTests() => set_num_threads(1);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void EachPositionGetsTheNextInputTokenAndScoredPositionsKeepTheirTarget()
    {
        var batch = _task.Sample(new Random(3), batchSize: 2, length: 7);
        var (inputs, targets) = batch.ToTensors(CPU);
        long[] result = SyntheticTrainer.NextTokenTargets(inputs, targets).data<long>().ToArray();
        for (int row = 0; row < 2; row++)
        for (int t = 0; t < 7; t++)
        {
            long expected = t == 6 ? batch.TargetRow(row)[6] : batch.InputRow(row)[t + 1];
            Assert.Equal(expected, result[row * 7 + t]);
        }
    }

    [Fact]
    public void APositionWithoutTargetAtTheEndStaysUnscored()
    {
        var inputs = tensor(new long[] { 1, 2, 3 }, new long[] { 1, 3 });
        var targets = full(1, 3, SyntheticBatch.Ignore, ScalarType.Int64);
        Assert.Equal(new long[] { 2, 3, SyntheticBatch.Ignore }, SyntheticTrainer.NextTokenTargets(inputs, targets).data<long>().ToArray());
    }

    [Fact]
    public void ItChangesTrainingAndIsNamedInTheRunDescription()
    {
        var scored = TinyTraining.TrainedWeights(_task, Options(false));
        var everyToken = TinyTraining.TrainedWeights(_task, Options(true));
        Assert.Contains(Enumerable.Range(0, scored.Length), i => !scored[i].allclose(everyToken[i], rtol: 0, atol: 1e-6));
        Assert.Contains("training loss on every position's next token", Options(true).ChecksDuringTraining());
        Assert.Null(Options(false).ChecksDuringTraining());
    }

    [Fact]
    public void ResumingWithTheOtherLossIsRefused()
    {
        SyntheticTrainer.Train(_task, ModelVariant.Mamba, Options(false) with { CheckpointDirectory = _root }, CPU).Model.Dispose();
        var error = Assert.Throws<ArgumentException>(() => SyntheticTrainer.Train(_task, ModelVariant.Mamba,
            Options(true) with { CheckpointDirectory = _root, Resume = true, Steps = 5 }, CPU));
        Assert.Contains("--loss-on-every-token is True here but False in the checkpoint", error.Message);
    }

    [Fact]
    public void TheSwitchReachesTheOptions()
    {
        var flags = new CommandLineFlags(new[] { "--loss-on-every-token", "--device", "cpu" }, CommonFlags.Switches);
        Assert.True(CommonFlags.Read(flags, new TrainingOptions(), Path.Combine(_root, "r.md")).Options.LossOnEveryToken);
    }
}
