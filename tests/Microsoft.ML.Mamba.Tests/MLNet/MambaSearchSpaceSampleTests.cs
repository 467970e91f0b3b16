using System.Reflection;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>MambaSearchSpace.Sample: the seeded sampler that runs a sweep without Microsoft.ML.AutoML.</summary>
public class MambaSearchSpaceSampleTests
{
    private static string Describe(MambaSearchSpace p) => System.Text.Json.JsonSerializer.Serialize(p);

    [Fact]
    public void TheSameSeedGivesTheSamePointsAndOtherSeedsOthers()
    {
        var a = Enumerable.Range(0, 5).ToArray();
        var first = new Random(3); var second = new Random(3); var other = new Random(4);
        var pointsA = a.Select(_ => Describe(MambaSearchSpace.Sample(first))).ToArray();
        var pointsB = a.Select(_ => Describe(MambaSearchSpace.Sample(second))).ToArray();
        var pointsC = a.Select(_ => Describe(MambaSearchSpace.Sample(other))).ToArray();
        Assert.Equal(pointsA, pointsB);
        Assert.NotEqual(pointsA, pointsC);
        Assert.True(pointsA.Distinct().Count() > 1);
    }

    [Fact]
    public void EveryDrawIsInsideItsRangeOrAmongItsChoicesAndGivesValidOptions()
    {
        var random = new Random(1);
        var seen = new Dictionary<string, HashSet<string>>();
        for (int i = 0; i < 200; i++)
        {
            var point = MambaSearchSpace.Sample(random);
            foreach (var property in typeof(MambaSearchSpace).GetProperties())
            {
                object value = property.GetValue(point)!;
                if (property.GetCustomAttribute<RangeAttribute>() is { } range)
                {
                    double v = Convert.ToDouble(value), min = Convert.ToDouble(range.Min), max = Convert.ToDouble(range.Max);
                    Assert.InRange(v, min, max);
                }
                else
                {
                    var choice = property.GetCustomAttribute<ChoiceAttribute>()!;
                    Assert.Contains(value, choice.Candidates);
                }
                if (!seen.TryGetValue(property.Name, out var values)) seen[property.Name] = values = [];
                values.Add(value.ToString()!);
            }
            point.ToOptions(new MambaTrainerOptions { TextColumnNames = ["Text"] });  // validates
        }
        // Every dimension moves (a sampler that ignored one would leave its default).
        Assert.All(seen, kv => Assert.True(kv.Value.Count > 1, $"{kv.Key} never changed"));
        Assert.Throws<ArgumentNullException>(() => MambaSearchSpace.Sample(null!));
    }
}
