using Microsoft.ML.Mamba.AI;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Names of the pretrained models that come with the project, usable wherever a checkpoint folder is asked for
/// (<see cref="MambaTrainerOptions.PretrainedModelDirectory"/>): <c>PretrainedModelDirectory = MambaPretrainedModels.EnglishBase</c>.
/// </summary>
public static class MambaPretrainedModels
{
    /// <summary>
    /// The English base model shipped in <c>models/mamba-english-base/</c> (Mamba-1, 4 layers of hidden size 192, 2.6 M
    /// parameters, a byte-level BPE of 8,192 tokens, trained on public-domain books; see its model card), copied next to
    /// the application by the package, or found in a folder above it.
    /// </summary>
    public const string EnglishBase = "english-base";

    private static readonly Dictionary<string, string> Folders = new(StringComparer.OrdinalIgnoreCase)
    {
        [EnglishBase] = Path.Combine("models", "mamba-english-base"),
    };

    /// <summary>The folder a name stands for, or <paramref name="nameOrDirectory"/> itself when it is not a known name.</summary>
    /// <exception cref="DirectoryNotFoundException">A known name whose folder is nowhere to be found (the message lists where it looked).</exception>
    public static string Resolve(string nameOrDirectory) =>
        Resolve(nameOrDirectory, [AppContext.BaseDirectory, Directory.GetCurrentDirectory()]);

    /// <summary>As <see cref="Resolve(string)"/>, searching from <paramref name="starts"/> and the folders above them.</summary>
    internal static string Resolve(string nameOrDirectory, IEnumerable<string> starts)
    {
        ArgumentNullException.ThrowIfNull(nameOrDirectory);
        if (!Folders.TryGetValue(nameOrDirectory, out var relative)) return nameOrDirectory;
        var searched = new List<string>();
        foreach (var start in starts)
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, relative);
                if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
                searched.Add(candidate);
            }
        }
        throw new DirectoryNotFoundException($"The pretrained model '{nameOrDirectory}' ({relative}) was not found next to the application " +
            $"or the working directory, or in a folder above them (looked in {string.Join(", ", searched.Distinct().Take(6))}{(searched.Count > 6 ? ", ..." : "")}). " +
            "Copy the folder from the repository, or pass its path as PretrainedModelDirectory.");
    }

    /// <summary>
    /// The tokenizer a checkpoint folder records (<see cref="MambaLanguageModelFolder.TokenizerRecordFile"/>) or holds
    /// (tokenizer.json or vocab.json: Hugging Face); <see cref="MambaTokenizerKind.Bytes"/> without a folder or either.
    /// </summary>
    internal static MambaTokenizerKind TokenizerOf(string? directory)
    {
        if (directory is null) return MambaTokenizerKind.Bytes;
        if (MambaLanguageModelFolder.RecordedTokenizerKind(directory) is { } kind) return kind;
        return File.Exists(Path.Combine(directory, "tokenizer.json")) || File.Exists(Path.Combine(directory, "vocab.json"))
            ? MambaTokenizerKind.HuggingFace : MambaTokenizerKind.Bytes;
    }
}
