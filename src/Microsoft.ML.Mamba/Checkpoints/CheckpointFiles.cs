using System.Diagnostics.CodeAnalysis;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>
/// The files of one checkpoint (config.json, safetensors, shard index), either in a directory or held in memory
/// (a model zip's entries), so both load through one reader and a zip never has to be written to disk.
/// </summary>
internal sealed class CheckpointFiles
{
    private readonly string? _directory;
    private readonly IReadOnlyDictionary<string, byte[]>? _memory;
    private readonly string _description;

    private CheckpointFiles(string? directory, IReadOnlyDictionary<string, byte[]>? memory, string description)
    {
        _directory = directory;
        _memory = memory;
        _description = description;
    }

    /// <summary>The files of a directory; it must exist.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static CheckpointFiles FromDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Mamba checkpoint directory not found: {directory}");
        return new CheckpointFiles(directory, null, directory);
    }

    /// <summary>Files held in memory, by plain file name; <paramref name="description"/> names their source in errors.</summary>
    public static CheckpointFiles FromMemory(IReadOnlyDictionary<string, byte[]> files, string description) =>
        new(null, files, description);

    /// <summary>Where the files come from, for error messages (a directory path or e.g. "the model zip").</summary>
    public string Description => _description;

    /// <summary>Whether <paramref name="name"/> (a plain file name, never a path) exists.</summary>
    public bool Exists(string name) =>
        IsPlainFileName(name) && (_memory is not null ? _memory.ContainsKey(name) : File.Exists(Path.Combine(_directory!, name)));

    /// <summary>Opens a seekable read-only stream over <paramref name="name"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public Stream Open(string name)
    {
        if (!Exists(name)) throw new FileNotFoundException($"{Describe(name)} does not exist.", name);
        if (_memory is not null) return new MemoryStream(_memory[name], writable: false);
        // Large reads go straight into tensor storage, so a small buffer only serves the header.
        return new FileStream(Path.Combine(_directory!, name), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 12, FileOptions.SequentialScan);
    }

    /// <summary>The size of <paramref name="name"/> in bytes.</summary>
    public long Length(string name)
    {
        if (!Exists(name)) throw new FileNotFoundException($"{Describe(name)} does not exist.", name);
        return _memory is not null ? _memory[name].Length : new FileInfo(Path.Combine(_directory!, name)).Length;
    }

    /// <summary>All bytes of a small file (config.json, the shard index); one larger than <paramref name="maxBytes"/> is refused unread.</summary>
    /// <exception cref="InvalidDataException">The file is larger than <paramref name="maxBytes"/>.</exception>
    public byte[] ReadAllBytes(string name, int maxBytes)
    {
        long length = Length(name);
        if (length > maxBytes)
            throw new InvalidDataException($"{Describe(name)} is {length} bytes, more than the {maxBytes}-byte limit for it.");
        return _memory is not null ? _memory[name] : File.ReadAllBytes(Path.Combine(_directory!, name));
    }

    /// <summary>How to name <paramref name="name"/> in an error: its full path, or the file inside the model zip.</summary>
    public string Describe(string name) =>
        _directory is not null ? Path.Combine(_directory, name) : $"{name} (in {_description})";

    /// <summary>True for a bare file name: no directory part, not "." or "..", not rooted.</summary>
    public static bool IsPlainFileName([NotNullWhen(true)] string? name) =>
        !string.IsNullOrEmpty(name) && name is not "." and not ".." && name.IndexOfAny(['/', '\\', ':', '\0']) < 0
        && !Path.IsPathRooted(name) && name == Path.GetFileName(name);
}
