using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>A row of the generated topic data set.</summary>
public sealed class TopicRow
{
    public string Text { get; set; } = "";
    public string Topic { get; set; } = "";
    public float Amount { get; set; }
    public bool Flag { get; set; }
}

/// <summary>A prediction read back from a multiclass Mamba transformer.</summary>
public sealed class TopicPrediction
{
    [ColumnName("PredictedLabel")] public string PredictedTopic { get; set; } = "";
    public float[] Score { get; set; } = [];
}

/// <summary>
/// Short sentences whose topic shows in their words (each word comes from the topic's list 3 times in 4,
/// otherwise from a shared filler list), so a small model can beat chance (1/3) clearly in a few epochs.
/// </summary>
public static class TopicRows
{
    public static readonly string[] Topics = ["sport", "weather", "food"];
    private static readonly string[][] Words =
    [
        ["goal", "team", "match", "coach"],
        ["rain", "sun", "cloud", "wind"],
        ["pizza", "bread", "soup", "salad"],
    ];
    private static readonly string[] Filler = ["the", "a", "and", "it"];

    public static List<TopicRow> Make(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<TopicRow>();
        for (int i = 0; i < count; i++)
        {
            int topic = random.Next(Topics.Length);
            int words = 2 + random.Next(3);
            var text = string.Join(' ', Enumerable.Range(0, words).Select(_ =>
                random.NextDouble() < 0.75 ? Words[topic][random.Next(Words[topic].Length)] : Filler[random.Next(Filler.Length)]));
            rows.Add(new TopicRow { Text = text, Topic = Topics[topic], Amount = topic * 10 + (float)random.NextDouble(), Flag = topic == 1 });
        }
        return rows;
    }
}
