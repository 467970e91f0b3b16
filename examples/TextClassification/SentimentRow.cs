using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.Examples.TextClassification;

/// <summary>One line of Data/sentiment.tsv.</summary>
public sealed class SentimentRow
{
    [LoadColumn(0)] public string Source { get; set; } = "";
    [LoadColumn(1)] public bool Positive { get; set; }
    [LoadColumn(2)] public string Text { get; set; } = "";
}

/// <summary>What the binary classifiers add to a row.</summary>
public sealed class SentimentPrediction
{
    public bool PredictedLabel { get; set; }
    public float Probability { get; set; }
}
