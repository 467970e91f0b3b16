using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class RandomSubsetTests
{
    [Fact]
    public void ChooseDrawsDistinctValuesFromTheRange()
    {
        var random = new Random(1);
        var into = new int[10];
        for (int trial = 0; trial < 100; trial++)
        {
            RandomSubset.Choose(random, 12, into);
            Assert.Equal(10, into.Distinct().Count());
            Assert.All(into, v => Assert.InRange(v, 0, 11));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => RandomSubset.Choose(random, 9, into));
    }

    [Fact]
    public void ChooseWeightedDrawsDistinctIndicesInProportionToTheirWeights()
    {
        var random = new Random(2);
        var into = new int[2];
        double[] weights = { 8, 1, 1 };
        var firstCounts = new int[3];
        for (int trial = 0; trial < 4000; trial++)
        {
            RandomSubset.ChooseWeighted(random, weights, into);
            Assert.NotEqual(into[0], into[1]);
            firstCounts[into[0]]++;
        }
        // The first draw is index i with probability w_i / Σw: 0.8, 0.1, 0.1.
        Assert.InRange(firstCounts[0] / 4000.0, 0.77, 0.83);
        Assert.InRange(firstCounts[1] / 4000.0, 0.08, 0.12);
        Assert.Throws<ArgumentOutOfRangeException>(() => RandomSubset.ChooseWeighted(random, weights, new int[4]));
    }
}
