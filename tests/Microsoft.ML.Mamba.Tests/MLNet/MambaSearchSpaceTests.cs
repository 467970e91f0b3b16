using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Mamba.Tests.MLNet;

public class MambaSearchSpaceTests
{
    /// <summary>Draws every annotated property inside its range or from its choices, as a tuner would.</summary>
    private static MambaSearchSpace Sample(Random random)
    {
        var space = new MambaSearchSpace();
        foreach (var property in typeof(MambaSearchSpace).GetProperties())
        {
            if (property.GetCustomAttribute<RangeAttribute>() is { } range)
            {
                if (range.Min is int lo && range.Max is int hi) property.SetValue(space, random.Next(lo, hi + 1));
                else
                {
                    double min = Convert.ToDouble(range.Min), max = Convert.ToDouble(range.Max);
                    double value = range.LogBase ? Math.Exp(Math.Log(min) + random.NextDouble() * (Math.Log(max) - Math.Log(min))) : min + random.NextDouble() * (max - min);
                    property.SetValue(space, value);
                }
            }
            else if (property.GetCustomAttribute<ChoiceAttribute>() is { } choice)
                property.SetValue(space, choice.Candidates[random.Next(choice.Candidates.Length)]);
            else
                Assert.Fail($"{property.Name} has no search-space attribute.");
        }
        return space;
    }

    [Fact]
    public void EverySearchedPropertyHasAnAttributeAndDefaultsMatchTheOptions()
    {
        var defaults = new MambaSearchSpace().ToOptions(new MambaTrainerOptions());
        var plain = new MambaTrainerOptions();
        Assert.Equal(plain.LearningRate, defaults.LearningRate);
        Assert.Equal(plain.BatchSize, defaults.BatchSize);
        Assert.Equal(plain.NumberOfEpochs, defaults.NumberOfEpochs);
        Assert.Equal(plain.ModelSize, defaults.ModelSize);
        Assert.Equal(plain.MaxSequenceLength, defaults.MaxSequenceLength);
    }

    [Fact]
    public void SampledParametersGiveValidOptionsAndATrainableEstimator()
    {
        var random = new Random(11);
        for (int i = 0; i < 20; i++) Sample(random).ToOptions(new MambaTrainerOptions()); // validates

        var sampled = Sample(random);
        var baseOptions = new MambaTrainerOptions { TextColumnNames = ["Text"], NetworkConfig = TrainedTopicModel.TinyNetwork() };
        var options = sampled.ToOptions(baseOptions);
        Assert.Equal(sampled.LearningRate, options.LearningRate);
        Assert.Equal(Enum.Parse<MambaModelSize>(sampled.ModelSize), options.ModelSize);
        options.NumberOfEpochs = 1; // keep the test fast; the sampled value was checked above
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(16, 1).Select(r => new { r.Text, Label = r.Flag }));
        var model = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
        Assert.Equal(16, model.Transform(data).GetColumn<float>("Score").Count());
    }
}
