using System.Text.RegularExpressions;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

/// <summary>
/// The lower folders of the library do not reach up: Checkpoints is a name → tensor store that knows no model or
/// config (Modeling reads config.json and loads modules), and the kernel seam and interop know no mixer. Read from the
/// sources, so a use in a method body counts as much as one in a signature.
/// </summary>
public partial class LayeringTests
{
    [Theory]
    [InlineData("Checkpoints", "Modeling", "Generation", "LanguageModeling", "Training", "MLNet", "AI")]
    [InlineData("Scan", "Modeling", "Checkpoints", "Generation", "LanguageModeling", "Training", "MLNet", "AI")]
    [InlineData("Interop", "Modeling", "Checkpoints", "Generation", "LanguageModeling", "Training", "MLNet", "AI")]
    public void ALowerFolderUsesNoHigherOne(string folder, params string[] higher)
    {
        var directory = Path.Combine(SourceRoot(), folder);
        Assert.True(Directory.Exists(directory), directory);
        var uses = new List<string>();
        foreach (var file in Directory.EnumerateFiles(directory, "*.cs"))
        {
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                var code = Comment().Replace(lines[i], "");
                foreach (var name in higher)
                    if (Regex.IsMatch(code, $@"\bMicrosoft\.ML\.Mamba\.{name}\b|(?<![\w.]){name}\."))
                        uses.Add($"{Path.GetFileName(file)}:{i + 1} uses {name}: {lines[i].Trim()}");
            }
        }
        Assert.True(uses.Count == 0, string.Join("\n", uses));
    }

    [GeneratedRegex(@"//.*$")]
    private static partial Regex Comment();

    // src/Microsoft.ML.Mamba of this checkout, found from the test binaries' folder.
    private static string SourceRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Microsoft.ML.Mamba");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"src/Microsoft.ML.Mamba not found above {AppContext.BaseDirectory}");
    }
}
