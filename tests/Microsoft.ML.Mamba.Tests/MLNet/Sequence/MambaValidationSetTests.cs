using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>A validation set must go through the pipeline's fitted prefix; the two ways to get it wrong are refused at Fit.</summary>
public class MambaValidationSetTests
{
    [Fact]
    public void AValidationSetKeyedByItsOwnMapValueToKeyIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var rows = TopicRows.Make(24, seed: 1);
        var key = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic));
        var prefix = key.Fit(ml.Data.LoadFromEnumerable(rows));
        var train = prefix.Transform(ml.Data.LoadFromEnumerable(rows));
        VBuffer<ReadOnlyMemory<char>> trainKeys = default;
        train.Schema["Label"].GetKeyValues(ref trainKeys);
        var order = trainKeys.DenseValues().Select(v => v.ToString()).ToList();

        // The same topics met in the opposite order: its own MapValueToKey numbers them the other way round.
        var validationRows = TopicRows.Make(12, seed: 2).OrderByDescending(r => order.IndexOf(r.Topic)).ToList();
        var keyedSeparately = key.Fit(ml.Data.LoadFromEnumerable(validationRows)).Transform(ml.Data.LoadFromEnumerable(validationRows));
        var options = MambaTrainingBehaviourTests.Quick();
        options.ValidationSet = keyedSeparately;
        var error = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(train));
        Assert.Contains("validation set", error.Message);
        Assert.Contains("keyed separately", error.Message);
        Assert.Contains("prefix.Transform", error.Message);

        // The fix the message gives: the fitted prefix's transform of the validation rows.
        options.ValidationSet = prefix.Transform(ml.Data.LoadFromEnumerable(validationRows));
        var history = ml.MulticlassClassification.Trainers.Mamba(options).Fit(train).TrainingHistory!;
        Assert.Single(history.ValidationLosses);
    }

    [Fact]
    public void AValidationSetWithFewerClassesIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var rows = TopicRows.Make(24, seed: 1);
        var key = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic));
        var train = key.Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        var twoTopics = rows.Where(r => r.Topic != TopicRows.Topics[2]).ToList();
        var options = MambaTrainingBehaviourTests.Quick();
        options.ValidationSet = key.Fit(ml.Data.LoadFromEnumerable(twoTopics)).Transform(ml.Data.LoadFromEnumerable(twoTopics));
        var error = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(train));
        Assert.Contains("keyed separately", error.Message);
    }

    [Fact]
    public void ARawValidationSetIsRefusedNamingTheValidationSet()
    {
        var ml = new MLContext(seed: 1);
        var rows = TopicRows.Make(24, seed: 1);
        var train = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic)).Fit(ml.Data.LoadFromEnumerable(rows))
            .Transform(ml.Data.LoadFromEnumerable(rows));
        var options = MambaTrainingBehaviourTests.Quick();
        options.ValidationSet = ml.Data.LoadFromEnumerable(TopicRows.Make(12, seed: 2)); // never went through MapValueToKey
        var error = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(train));
        Assert.Contains("validation set", error.Message);
        Assert.Contains("'Label'", error.Message);
        Assert.Contains("prefix.Transform", error.Message);

        options.ValidationSet = ml.Data.LoadFromEnumerable(new[] { new { Body = "x", Label = 1u } });
        var noText = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.Mamba(options).Fit(train));
        Assert.Contains("validation set", noText.Message);
        Assert.Contains("'Text'", noText.Message);
    }
}
