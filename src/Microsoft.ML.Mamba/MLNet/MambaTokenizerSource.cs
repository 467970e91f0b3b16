using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Which tokenizer a model uses and the files needed to rebuild it, so a saved model carries its tokenizer.
/// </summary>
internal sealed class MambaTokenizerSource
{
    public MambaTokenizerSource(MambaTokenizerKind kind, IReadOnlyDictionary<string, byte[]>? files = null)
    {
        Kind = kind;
        Files = files ?? new Dictionary<string, byte[]>();
    }

    public MambaTokenizerKind Kind { get; }

    /// <summary>File name to contents, for <see cref="MambaTokenizerKind.HuggingFace"/> (tokenizer.json and friends).</summary>
    public IReadOnlyDictionary<string, byte[]> Files { get; }

    /// <summary>Reads the files of a Hugging Face tokenizer from a tokenizer.json path or a folder that holds one.</summary>
    public static MambaTokenizerSource FromOptions(MambaTokenizerKind kind, string? path)
    {
        if (kind != MambaTokenizerKind.HuggingFace) return new MambaTokenizerSource(kind);
        if (path is null) throw new ArgumentException("A Hugging Face tokenizer needs TokenizerPath or PretrainedModelDirectory.");
        string directory = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        var files = ModelZipEntries.TokenizerFileNames.Select(n => Path.Combine(directory, n)).Where(File.Exists)
            .ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);
        if (files.Count == 0) throw new FileNotFoundException($"No tokenizer files (tokenizer.json, vocab.json/merges.txt) in '{directory}'.");
        return new MambaTokenizerSource(kind, files);
    }

    /// <summary>Builds the tokenizer (writing Hugging Face files to a temporary folder first).</summary>
    public IMambaTokenizer Create()
    {
        switch (Kind)
        {
            case MambaTokenizerKind.Bytes: return MambaTokenizers.Bytes();
            case MambaTokenizerKind.Gpt2: return MambaTokenizers.Gpt2();
            default:
                // TODO(lead): use MambaTokenizers.FromHuggingFaceFiles (in memory, no temp folder).
                // Until then the names are checked so that none can leave the temp folder.
                foreach (var name in Files.Keys)
                    if (!Checkpoints.CheckpointFiles.IsPlainFileName(name) || !ModelZipEntries.TokenizerFileNames.Contains(name))
                        throw new InvalidDataException($"The tokenizer file name '{name}' is not allowed (expected one of {string.Join(", ", ModelZipEntries.TokenizerFileNames)}).");
                string directory = Directory.CreateTempSubdirectory("mamba-tokenizer-").FullName;
                try
                {
                    foreach (var (name, bytes) in Files) File.WriteAllBytes(Path.Combine(directory, name), bytes);
                    return MambaTokenizers.FromHuggingFace(directory);
                }
                finally { Directory.Delete(directory, recursive: true); }
        }
    }
}
