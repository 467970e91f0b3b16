using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>--state-passing-from: after the given step, each batch continues from the previous batch's final state.</summary>
[Collection(nameof(SeededTraining))]
public sealed class StatePassingTests
{
    private readonly InductionHeadsTask _task = new(vocabSize: 16);

    private static TrainingOptions Options(int? statePassingFrom) =>
        TinyTraining.Options with { Steps = 4, StatePassingFrom = statePassingFrom };

    private Tensor[] TrainedWeights(int? statePassingFrom) => TinyTraining.TrainedWeights(_task, Options(statePassingFrom));

    private static bool Same(Tensor[] a, Tensor[] b) => a.Zip(b).All(pair => pair.First.equal(pair.Second).all().item<bool>());

    [Fact]
    public void BatchesAfterTheGivenStepStartFromTheCarriedState()
    {
        var plain = TrainedWeights(null);
        Assert.True(Same(plain, TrainedWeights(4)), "state passing from the last step must not change any step");
        Assert.False(Same(plain, TrainedWeights(2)), "steps 3 and 4 should have started from step 2's and 3's final states");
    }

    [Fact]
    public void TheRuleIsNamedInTheRunDescription()
    {
        Assert.Contains("previous batch's final state after step 100", Options(100).ChecksDuringTraining());
        Assert.Null(Options(null).ChecksDuringTraining());
    }
}
