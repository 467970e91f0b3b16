using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Training;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>
/// The catalogs' simple <c>Trainers.Mamba(label, text, ...)</c> overloads use the recipe that measured best (issue #19):
/// fine-tuning the shipped English base, a held-out tenth for early stopping and calibration, mean pooling.
/// </summary>
public class SimpleOverloadTests
{
    [Fact]
    public void TheSimpleOverloadsFineTuneTheShippedBaseWithAHeldOutTenth()
    {
        var ml = new MLContext(seed: 1);
        foreach (var options in new[]
        {
            ml.BinaryClassification.Trainers.Mamba().Options,
            ml.MulticlassClassification.Trainers.Mamba().Options,
            ml.Regression.Trainers.Mamba().Options,
        })
        {
            Assert.Equal(MambaPretrainedModels.EnglishBase, options.PretrainedModelDirectory);
            Assert.Null(options.Tokenizer);                     // the base's own tokenizer
            Assert.Equal(0.1, options.ValidationFraction);
            Assert.Equal(SequencePooling.Mean, options.Pooling);
            Assert.Equal(0.5, options.BackboneLearningRateFactor);
            Assert.True(options.HeadDropout > 0);
            options.Validate();
        }
    }

    [Fact]
    public void NoPretrainedModelTrainsATinyNetworkFromScratchOnGpt2Tokens()
    {
        var options = new MLContext(seed: 1).BinaryClassification.Trainers.Mamba(numberOfEpochs: 2, maxSequenceLength: 40, pretrainedModel: null).Options;
        Assert.Null(options.PretrainedModelDirectory);
        Assert.Equal(MambaTokenizerKind.Gpt2, options.Tokenizer);
        Assert.Equal(MambaModelSize.Tiny, options.ModelSize);
        Assert.Equal(SequencePooling.Mean, options.Pooling);
        Assert.Equal((2, 40), (options.NumberOfEpochs, options.MaxSequenceLength));
        Assert.Equal(0.1, options.ValidationFraction);
    }

    [Fact]
    public void WithDefaultsItLearnsTopicsFromTheBaseAndCalibratesOnTheHeldOutRows()
    {
        var ml = new MLContext(seed: 2);
        var train = ml.Data.LoadFromEnumerable(TopicRows.Make(60, seed: 1));
        var test = ml.Data.LoadFromEnumerable(TopicRows.Make(45, seed: 2));
        var model = ml.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic))
            .Append(ml.MulticlassClassification.Trainers.Mamba(numberOfEpochs: 2, maxSequenceLength: 16))
            .Fit(train);
        var mamba = model.LastTransformer;
        Assert.Equal(192, mamba.Network.Config.HiddenSize);   // the English base's width, not Tiny's
        Assert.NotEqual(1.0, mamba.Temperature, 3);           // fitted on the held-out rows: there was no ValidationSet
        Assert.NotEmpty(mamba.TrainingHistory!.ValidationLosses);             // early stopping watched them
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        TestContext.Current.TestOutputHelper?.WriteLine($"macro accuracy {metrics.MacroAccuracy:F3}, temperature {mamba.Temperature:F3}");
        Assert.True(metrics.MacroAccuracy > 0.6, $"macro accuracy {metrics.MacroAccuracy:F2} on keyword topics (chance 0.33)");
    }

    [Fact]
    public void HoldOutTakesASeededShareAndKeepsTheRestInOrder()
    {
        var rows = Enumerable.Range(0, 50).Select(i => new TokenizedExample([i], i)).ToList();
        var (train, validation) = MambaTrainerBase.HoldOut(rows, 0.1, seed: 7);
        Assert.Equal(5, validation.Count);
        Assert.Equal(45, train.Count);
        Assert.Equal(rows.Select(r => r.Target).Order(), train.Concat(validation).Select(r => r.Target).Order());
        Assert.Equal(train.Select(r => r.Target).Order(), train.Select(r => r.Target));   // order kept
        Assert.Equal(validation.Select(r => r.Target), MambaTrainerBase.HoldOut(rows, 0.1, seed: 7).Validation.Select(r => r.Target));
        Assert.NotEqual(validation.Select(r => r.Target), MambaTrainerBase.HoldOut(rows, 0.1, seed: 8).Validation.Select(r => r.Target));
        // At least one row each way.
        Assert.Equal((1, 1), (MambaTrainerBase.HoldOut(rows.Take(2).ToList(), 0.5, 1) is var two ? (two.Train.Count, two.Validation.Count) : default));
        Assert.Single(MambaTrainerBase.HoldOut(rows, 0.001, 1).Validation);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(0.6)]
    [InlineData(double.NaN)]
    public void AValidationFractionOutsideZeroToAHalfIsRefusedByName(double fraction)
    {
        var error = Assert.Throws<ArgumentException>(() => new MambaTrainerOptions { ValidationFraction = fraction }.Validate());
        Assert.Equal(nameof(MambaTrainerOptions.ValidationFraction), error.ParamName);
    }
}
