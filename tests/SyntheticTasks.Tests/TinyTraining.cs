using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

/// <summary>The harness's smallest useful run, for tests of the training loop: a few steps train in well under a second on one CPU thread.</summary>
internal static class TinyTraining
{
    /// <summary>Sequences of 12, batches of 4, 3 steps, a model of dimension 16 and state 4; tests change what they check.</summary>
    public static TrainingOptions Options => new()
    {
        TrainLength = 12, BatchSize = 4, Steps = 3, LearningRate = 1e-2, ModelDimension = 16, StateSize = 4,
        ValidationSequences = 4, EvalSequences = 4, LogEvery = 0,
    };

    /// <summary>Trains the selective model on one CPU thread and returns copies of its weights (the model is disposed).</summary>
    public static Tensor[] TrainedWeights(ISyntheticTask task, TrainingOptions options)
    {
        set_num_threads(1);
        var result = SyntheticTrainer.Train(task, ModelVariant.Mamba, options, CPU);
        using (result.Model) return result.Model.parameters().Select(p => p.detach().clone()).ToArray();
    }
}
