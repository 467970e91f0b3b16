namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>A GitHub-flavoured markdown table built row by row.</summary>
public sealed class MarkdownTable
{
    private readonly string[] _headers;
    private readonly List<string[]> _rows = new();

    public MarkdownTable(params string[] headers) => _headers = headers;

    public void AddRow(params string[] cells)
    {
        if (cells.Length != _headers.Length) throw new ArgumentException($"row has {cells.Length} cells, table has {_headers.Length} columns");
        _rows.Add(cells);
    }

    public override string ToString()
    {
        static string Line(IEnumerable<string> cells) => "| " + string.Join(" | ", cells.Select(c => c.Replace("|", "\\|"))) + " |";
        var lines = new List<string> { Line(_headers), Line(_headers.Select(_ => "---")) };
        lines.AddRange(_rows.Select(Line));
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>
    /// Accuracy as a percentage with one decimal, as the paper prints it; below 100% but within rounding of it, as
    /// many decimals as it takes not to read 100 (99.98, not 100.0: the difference is what a bar like 99.8% is about).
    /// </summary>
    public static string Percent(double accuracy)
    {
        if (double.IsNaN(accuracy)) return "n/a";
        double percent = 100 * accuracy;
        int decimals = 1;
        while (accuracy < 1 && decimals < 6 && Math.Round(percent, decimals) >= 100) decimals++;
        return percent.ToString("F" + decimals, System.Globalization.CultureInfo.InvariantCulture);
    }
}
