using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class CommandLineFlagsTests
{
    [Fact]
    public void ReadsBothFormsAndDefaults()
    {
        var flags = new CommandLineFlags(new[] { "--steps", "12", "--lr=0.003" });
        Assert.Equal(12, flags.Int("steps", 5, ""));
        Assert.Equal(0.003, flags.Double("lr", 1e-3, ""));
        Assert.Equal("cpu", flags.String("device", "cpu", ""));
        flags.RejectUnknown();
    }

    [Fact]
    public void RejectsTyposAndBadValues()
    {
        var flags = new CommandLineFlags(new[] { "--stpes", "12", "--batch", "x" });
        Assert.Throws<ArgumentException>(() => flags.Int("batch", 8, ""));
        Assert.Throws<ArgumentException>(() => flags.RejectUnknown());
        Assert.Throws<ArgumentException>(() => new CommandLineFlags(new[] { "--steps" }));
    }
}
