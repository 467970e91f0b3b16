using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;
using TorchSharp;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>The task objects: one per <see cref="MambaTask"/>, each owning its label, targets, loss and scores.</summary>
public class SequenceTaskTests
{
    [Theory]
    [InlineData(MambaTask.MulticlassClassification)]
    [InlineData(MambaTask.BinaryClassification)]
    [InlineData(MambaTask.Regression)]
    public void EveryTaskHasItsObject(MambaTask task) => Assert.Equal(task, SequenceTask.For(task).Kind);

    [Fact]
    public void AnUnknownTaskIsRefusedNamingIt()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => SequenceTask.For((MambaTask)42));
        Assert.Contains("42", error.Message);
    }

    [Fact]
    public void RegressionStandardisesTargetsAndMapsPredictionsBack()
    {
        var scaling = SequenceTask.For(MambaTask.Regression).FitTargetScaling([1f, 3f, 5f, 7f]);
        Assert.Equal(4f, scaling.Mean);
        Assert.Equal(MathF.Sqrt(5f), scaling.Scale, 5);
        Assert.Equal(7f, scaling.Invert(scaling.Apply(7f)), 5);
        Assert.Equal(1f, SequenceTask.For(MambaTask.Regression).FitTargetScaling([2f, 2f]).Scale); // a constant label
        Assert.Equal(TargetScaling.Identity, SequenceTask.For(MambaTask.BinaryClassification).FitTargetScaling([0f, 1f]));

        using var output = torch.tensor(new float[] { 0f, 1f }).reshape(2, 1);
        Assert.Equal([4f, 4f + MathF.Sqrt(5f)], SequenceTask.For(MambaTask.Regression).ToScores(output, scaling));
    }

    [Fact]
    public void MulticlassScoresAreProbabilitiesAndLossIsCrossEntropy()
    {
        var task = SequenceTask.For(MambaTask.MulticlassClassification);
        using var logits = torch.tensor(new float[] { 0f, 0f, 0f, 2f, 0f, 0f }).reshape(2, 3);
        var scores = task.ToScores(logits, TargetScaling.Identity);
        Assert.Equal(1.0, scores.Take(3).Sum(), 5);
        Assert.Equal(1f / 3, scores[0], 5);
        using var loss = task.Loss(logits, [0f, 0f], torch.CPU);
        double expected = (Math.Log(3) + Math.Log(2 + Math.E * Math.E) - 2) / 2;
        Assert.Equal(expected, loss.item<float>(), 4);
    }

    [Fact]
    public void EachTaskChecksItsLabelType()
    {
        var ml = new MLContext(seed: 1);
        var schema = ml.Data.LoadFromEnumerable(new[] { new { Flag = true, Value = 1f, Name = "a" } }).Schema;
        Assert.Equal(1, LabelInfo.Read(schema, "Flag", SequenceTask.For(MambaTask.BinaryClassification)).NumberOfOutputs);
        Assert.Equal(1, LabelInfo.Read(schema, "Value", SequenceTask.For(MambaTask.Regression)).NumberOfOutputs);
        Assert.Contains("'Name'", Assert.Throws<ArgumentOutOfRangeException>(() => LabelInfo.Read(schema, "Name", SequenceTask.For(MambaTask.Regression))).Message);
        Assert.Contains("MapValueToKey", Assert.Throws<ArgumentOutOfRangeException>(() => LabelInfo.Read(schema, "Flag", SequenceTask.For(MambaTask.MulticlassClassification))).Message);
        Assert.Contains("'Nope'", Assert.Throws<ArgumentOutOfRangeException>(() => LabelInfo.Read(schema, "Nope", SequenceTask.For(MambaTask.BinaryClassification))).Message);
    }

    [Fact]
    public void ClassesCompareByCountAndNames()
    {
        var task = SequenceTask.For(MambaTask.MulticlassClassification);
        var abc = new LabelInfo("Label", task, 3, ["a", "b", "c"]);
        Assert.True(abc.SameClassesAs(new LabelInfo("Label", task, 3, ["a", "b", "c"])));
        Assert.True(abc.SameClassesAs(new LabelInfo("Label", task, 3, null)));
        Assert.False(abc.SameClassesAs(new LabelInfo("Label", task, 3, ["c", "b", "a"])));
        Assert.False(abc.SameClassesAs(new LabelInfo("Label", task, 2, ["a", "b"])));
    }
}
