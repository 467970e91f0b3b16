using Microsoft.ML.Mamba.Examples.SyntheticTasks;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class MarkdownTableTests
{
    [Theory]
    [InlineData(1.0, "100.0")]
    [InlineData(0.5, "50.0")]
    [InlineData(0.12345, "12.3")]
    [InlineData(131_049.0 / 131_072, "99.98")]   // one decimal would read 100.0
    [InlineData(0.99999, "99.999")]
    [InlineData(0.0, "0.0")]
    [InlineData(double.NaN, "n/a")]
    public void PercentKeepsOneDecimalUnlessThatWouldRead100(double accuracy, string expected) =>
        Assert.Equal(expected, MarkdownTable.Percent(accuracy));

    [Fact]
    public void RowsMustMatchTheHeadersAndPipesAreEscaped()
    {
        var table = new MarkdownTable("a", "b");
        Assert.Throws<ArgumentException>(() => table.AddRow("only one"));
        table.AddRow("x|y", "z");
        Assert.Equal("| a | b |\n| --- | --- |\n| x\\|y | z |\n", table.ToString());
    }
}
