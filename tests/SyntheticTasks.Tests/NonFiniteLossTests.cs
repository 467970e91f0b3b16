using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>A run whose loss stops being finite ends with an error that names the variant and the step.</summary>
[Collection(nameof(SeededTraining))]
public sealed class NonFiniteLossTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(1)]     // with a carried state, which is released on the way out
    public void TrainingStopsWithTheStepOfTheFirstBadLoss(int? statePassingFrom)
    {
        set_num_threads(1);
        // Adam moves every weight by about the learning rate per step, so 1e30 overflows the logits at once.
        var options = TinyTraining.Options with { LearningRate = 1e30, StatePassingFrom = statePassingFrom };
        var error = Assert.Throws<InvalidOperationException>(() =>
            SyntheticTrainer.Train(new InductionHeadsTask(vocabSize: 16), ModelVariant.Mamba, options, CPU));
        Assert.Matches(@"^mamba: loss became (NaN|∞|-?Infinity) at step [23]$", error.Message);
    }
}
