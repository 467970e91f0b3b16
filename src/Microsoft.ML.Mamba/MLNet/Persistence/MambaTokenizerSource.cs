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

    /// <summary>Builds the tokenizer; Hugging Face files are read from memory (no temporary files).</summary>
    /// <exception cref="InvalidDataException">A file name is not one of the tokenizer files, or a file is malformed.</exception>
    public IMambaTokenizer Create() => Kind switch
    {
        MambaTokenizerKind.Bytes => MambaTokenizers.Bytes(),
        MambaTokenizerKind.Gpt2 => MambaTokenizers.Gpt2(),
        _ => MambaTokenizers.FromHuggingFaceFiles(Files),
    };
}
