namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>Finds the repository root so results land next to the example's source, wherever it is run from.</summary>
public static class RepositoryPaths
{
    /// <summary>The nearest folder above the working directory or the binary that holds the solution file.</summary>
    public static string? Root()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.Mamba.sln"))) return dir.FullName;
        }
        return null;
    }

    /// <summary><paramref name="relative"/> under the repository root, or under the working directory outside one.</summary>
    public static string InRepository(string relative) => Path.Combine(Root() ?? Directory.GetCurrentDirectory(), relative);
}
