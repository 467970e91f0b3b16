using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>Drawing several steps' batches at once must give the batches one draw per step would.</summary>
public class BatchStreamTests
{
    public static TheoryData<string> Tasks => new() { "copying", "induction" };

    [Theory]
    [MemberData(nameof(Tasks))]
    public void BlocksGiveTheSameBatchesAsOneDrawPerStep(string name)
    {
        ISyntheticTask task = name == "copying" ? new SelectiveCopyingTask() : new InductionHeadsTask();
        const int batchSize = 3, length = 40, steps = 70; // 64 steps per block here: the second block is reached
        using var stream = new BatchStream(task, new Random(9), batchSize, length, CPU);
        var perStep = new Random(9);
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var (inputs, targets) = stream.Next();
            var expected = task.Sample(perStep, batchSize, length);
            Assert.Equal(expected.Inputs, inputs.contiguous().data<long>().ToArray());
            Assert.Equal(expected.Targets, targets.contiguous().data<long>().ToArray());
        }
    }
}
