using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using static Microsoft.ML.Mamba.Tests.MLNet.MambaTrainingBehaviourTests;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>
/// The same seed gives the same model. These draw from libtorch's global generator, so they run alone
/// (<see cref="SeededTraining"/>): another test drawing from it at the same time, outside
/// <see cref="TorchGlobalRandom"/>, would change the weights (it did, in one run of six).
/// </summary>
[Collection(nameof(SeededTraining))]
public class SeededTrainingReproducibilityTests
{
    [Fact]
    public void RunsWithTheSameMLContextSeedAreIdenticalOnCpu()
    {
        float[] Run(int seed)
        {
            var (ml, data) = Topics(24, seed);
            return FirstScores(ml.MulticlassClassification.Trainers.Mamba(Quick()).Fit(data), data);
        }
        var a = Run(5);
        Assert.Equal(a, Run(5));
        Assert.NotEqual(a, Run(6));
    }

    [Fact]
    public void ModelsBuiltAtOnceOnSeveralThreadsWithOneSeedAreIdentical()
    {
        // Each build makes dozens of draws from the global generator; without the lock the threads interleave them.
        var models = Enumerable.Range(0, 8).AsParallel().WithDegreeOfParallelism(4)
            .Select(_ => TorchGlobalRandom.Seeded(3, () => new MambaForCausalLM(TinyConfigs.Tiny()))).ToArray();
        var first = models[0].parameters().ToArray();
        foreach (var model in models.Skip(1))
            Assert.All(model.parameters().Zip(first), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>()));
    }
}
