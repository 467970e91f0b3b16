namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// Where <see cref="HuggingFaceTokenizerReader"/> gets its files: a directory on disk or named byte arrays (a model zip's
/// entries), so that both go through one reader and the same limits. Reads never write anything.
/// </summary>
internal abstract class TokenizerFileSource
{
    /// <summary>The file names a source may hold.</summary>
    public static readonly IReadOnlySet<string> KnownNames = new HashSet<string>(StringComparer.Ordinal)
    {
        HuggingFaceTokenizerReader.TokenizerJson, HuggingFaceTokenizerReader.VocabJson, HuggingFaceTokenizerReader.MergesTxt,
        HuggingFaceTokenizerReader.TokenizerConfigJson, HuggingFaceTokenizerReader.SpecialTokensMapJson, HuggingFaceTokenizerReader.AddedTokensJson,
    };

    /// <summary>Where the files come from, for messages about the whole set.</summary>
    public abstract string Description { get; }

    /// <summary>Whether the file <paramref name="name"/> (one of <see cref="KnownNames"/>) is there.</summary>
    public abstract bool Exists(string name);

    /// <summary>How to name file <paramref name="name"/> in a message (its full path, or its name in memory).</summary>
    public abstract string Describe(string name);

    /// <summary>The file's bytes; a file over <paramref name="maxBytes"/> is refused before its contents are allocated.</summary>
    /// <exception cref="InvalidDataException">The file is larger than <paramref name="maxBytes"/>.</exception>
    public abstract byte[] ReadAllBytes(string name, long maxBytes);

    /// <summary>The error for a set that holds neither tokenizer.json nor the vocab.json + merges.txt pair.</summary>
    public abstract Exception NoTokenizerFiles();

    /// <summary>
    /// Files from disk: a directory, or a single tokenizer.json whose directory supplies the optional configuration files.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    public static TokenizerFileSource FromPath(string pathOrDirectory)
    {
        if (Directory.Exists(pathOrDirectory)) return new DirectorySource(pathOrDirectory, tokenizerJson: null);
        if (File.Exists(pathOrDirectory))
        {
            string full = Path.GetFullPath(pathOrDirectory);
            return new DirectorySource(Path.GetDirectoryName(full)!, full);
        }
        throw new FileNotFoundException($"The tokenizer file or directory '{pathOrDirectory}' does not exist.", pathOrDirectory);
    }

    /// <summary>Files held in memory, by name.</summary>
    /// <exception cref="InvalidDataException">A name is not a tokenizer file name, or a file is null.</exception>
    public static TokenizerFileSource FromMemory(IReadOnlyDictionary<string, byte[]> files)
    {
        foreach (var (name, bytes) in files)
        {
            if (name is null || !KnownNames.Contains(name))
                throw new InvalidDataException($"'{name}' is not a tokenizer file name; expected one of {string.Join(", ", KnownNames)}.");
            if (bytes is null) throw new InvalidDataException($"The tokenizer file '{name}' has no contents (null).");
        }
        return new MemorySource(files);
    }

    private sealed class DirectorySource(string directory, string? tokenizerJson) : TokenizerFileSource
    {
        public override string Description => directory;

        public override bool Exists(string name) => File.Exists(Describe(name));

        public override string Describe(string name) =>
            name == HuggingFaceTokenizerReader.TokenizerJson && tokenizerJson is not null ? tokenizerJson : Path.Combine(directory, name);

        public override byte[] ReadAllBytes(string name, long maxBytes)
        {
            string path = Describe(name);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            // The length is checked before allocating; a stream that grows or lies about its length is still cut at the cap.
            if (stream.CanSeek && stream.Length > maxBytes) throw TooLarge(path, stream.Length, maxBytes);
            return ReadCapped(stream, path, maxBytes);
        }

        public override Exception NoTokenizerFiles() => new FileNotFoundException(
            $"The directory '{directory}' holds neither '{HuggingFaceTokenizerReader.TokenizerJson}' nor both " +
            $"'{HuggingFaceTokenizerReader.VocabJson}' and '{HuggingFaceTokenizerReader.MergesTxt}'.", Describe(HuggingFaceTokenizerReader.TokenizerJson));
    }

    private sealed class MemorySource(IReadOnlyDictionary<string, byte[]> files) : TokenizerFileSource
    {
        public override string Description => "the in-memory tokenizer files";

        public override bool Exists(string name) => files.ContainsKey(name);

        public override string Describe(string name) => name;

        public override byte[] ReadAllBytes(string name, long maxBytes)
        {
            var bytes = files[name];
            return bytes.LongLength > maxBytes ? throw TooLarge(name, bytes.LongLength, maxBytes) : bytes;
        }

        public override Exception NoTokenizerFiles() => new InvalidDataException(
            $"The tokenizer files hold neither '{HuggingFaceTokenizerReader.TokenizerJson}' nor both " +
            $"'{HuggingFaceTokenizerReader.VocabJson}' and '{HuggingFaceTokenizerReader.MergesTxt}'.");
    }

    /// <summary>Reads at most <paramref name="maxBytes"/> bytes, growing the buffer only as data actually arrives.</summary>
    internal static byte[] ReadCapped(Stream stream, string name, long maxBytes)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + read > maxBytes) throw TooLarge(name, null, maxBytes);
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static InvalidDataException TooLarge(string name, long? length, long maxBytes) => new(
        $"The tokenizer file '{name}' is {(length is { } n ? $"{n:N0} bytes" : "larger than the limit")}; tokenizer files may be at most {maxBytes:N0} bytes.");
}
