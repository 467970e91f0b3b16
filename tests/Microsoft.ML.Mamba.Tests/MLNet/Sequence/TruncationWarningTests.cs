using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>
/// When many training rows are longer than MaxSequenceLength, the log says so with the lengths to choose from: cut rows
/// lose whatever comes last (an e-mail's body after its subject and extra fields), which once went unnoticed (issue #19).
/// </summary>
public class TruncationWarningTests
{
    private static List<string> Warnings(int maxSequenceLength)
    {
        var (ml, data) = MambaTrainingBehaviourTests.Topics(16, 1);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning && e.Message.Contains("MaxSequenceLength")) lock (warnings) warnings.Add(e.Message); };
        var options = MambaTrainingBehaviourTests.Quick(epochs: 1);
        options.MaxSequenceLength = maxSequenceLength;
        using var _ = ml.MulticlassClassification.Trainers.Mamba(options).Fit(data);
        return warnings;
    }

    [Fact]
    public void MostRowsCutAtMaxSequenceLengthGiveOneWarningWithTheRowLengths()
    {
        var warning = Assert.Single(Warnings(maxSequenceLength: 3));
        Assert.Contains("16 of 16 training rows", warning);
        Assert.Contains("MaxSequenceLength (3 tokens)", warning);
        Assert.Contains("median", warning);
    }

    [Fact]
    public void RowsThatFitGiveNoWarning() => Assert.Empty(Warnings(maxSequenceLength: 256));
}
