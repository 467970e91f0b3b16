using System.Text.RegularExpressions;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The named binary entries our transformers keep in an ML.NET model zip, each a length-prefixed blob
/// (Int32 length, then the bytes): a settings JSON, the network files (config.json + safetensors) and the
/// tokenizer's files. Shared by every transformer that saves a Mamba network.
/// </summary>
/// <remarks>
/// A model zip is something users download and share, so loading treats it as hostile: file names in the settings
/// must be plain names from a short allow-list, every entry is read in memory (never written to disk) with its
/// declared length checked against a limit before anything is allocated and its bytes read in chunks, and the
/// weight entries may hold no more than the config's parameters need. Every problem is an <see cref="InvalidDataException"/>.
/// </remarks>
internal static partial class ModelZipEntries
{
    public const string NetworkPrefix = "Mamba.Network.";
    public const string TokenizerPrefix = "Mamba.Tokenizer.";

    /// <summary>Largest settings JSON read.</summary>
    public const int MaxSettingsBytes = 1 << 20;
    /// <summary>Largest tokenizer file read (real tokenizer.json files are a few megabytes).</summary>
    public const int MaxTokenizerFileBytes = 64 << 20;
    /// <summary>Largest config.json or shard index read.</summary>
    public const int MaxSmallNetworkFileBytes = 1 << 20;
    /// <summary>Most network files a model may name (config, index and shards).</summary>
    public const int MaxNetworkFiles = 1024;

    /// <summary>The tokenizer files a model may carry.</summary>
    public static readonly IReadOnlySet<string> TokenizerFileNames = new HashSet<string>(StringComparer.Ordinal)
        { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt" };

    private const int ChunkBytes = 1 << 20;

    public static void Write(ModelSaveContext ctx, string name, byte[] bytes) =>
        MLNetInternalsBridge.SaveBinaryStream(ctx, name, w => { w.Write(bytes.Length); w.Write(bytes); });

    /// <summary>Writes the settings, every network file in <paramref name="networkDirectory"/> and the tokenizer files.</summary>
    public static void WriteAll(ModelSaveContext ctx, string settingsEntry, string settingsJson, string networkDirectory,
        IEnumerable<string> networkFiles, IEnumerable<KeyValuePair<string, byte[]>> tokenizerFiles)
    {
        Write(ctx, settingsEntry, System.Text.Encoding.UTF8.GetBytes(settingsJson));
        foreach (var name in networkFiles)
            Write(ctx, NetworkPrefix + name, File.ReadAllBytes(Path.Combine(networkDirectory, name)));
        foreach (var (name, bytes) in tokenizerFiles)
            Write(ctx, TokenizerPrefix + name, bytes);
    }

    /// <summary>Reads the settings JSON entry (at most <see cref="MaxSettingsBytes"/>).</summary>
    public static string ReadSettings(object ctx, string name) =>
        System.Text.Encoding.UTF8.GetString(Read(ctx, name, MaxSettingsBytes));

    /// <summary>
    /// Checks the file names a settings JSON lists: plain names (no folders, no "..", not rooted), no repeats, network
    /// files among config.json, model.safetensors, model.safetensors.index.json and model-NNNNN-of-NNNNN.safetensors
    /// (config.json required), tokenizer files among <see cref="TokenizerFileNames"/>.
    /// </summary>
    public static void ValidateFileNames(string[]? networkFiles, string[]? tokenizerFiles)
    {
        if (networkFiles is null || networkFiles.Length == 0 || networkFiles.Length > MaxNetworkFiles)
            throw new InvalidDataException($"The model's settings must list between 1 and {MaxNetworkFiles} NetworkFiles, got {networkFiles?.Length ?? 0}.");
        Check(networkFiles, "NetworkFiles", name => name is HuggingFaceCheckpoint.ConfigFileName or SafeTensorsDirectory.SingleFileName
            or SafeTensorsDirectory.IndexFileName || ShardFileName().IsMatch(name));
        if (!networkFiles.Contains(HuggingFaceCheckpoint.ConfigFileName))
            throw new InvalidDataException($"The model's settings list no '{HuggingFaceCheckpoint.ConfigFileName}' among NetworkFiles.");
        if (tokenizerFiles is null || tokenizerFiles.Length > TokenizerFileNames.Count)
            throw new InvalidDataException($"The model's settings must list at most {TokenizerFileNames.Count} TokenizerFiles, got {tokenizerFiles?.Length.ToString() ?? "null"}.");
        Check(tokenizerFiles, "TokenizerFiles", TokenizerFileNames.Contains);

        static void Check(string[] names, string field, Func<string, bool> allowed)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in names)
            {
                // Names become dictionary keys and, for tokenizers, file names: anything but a known plain name is refused.
                if (!CheckpointFiles.IsPlainFileName(name) || !allowed(name))
                    throw new InvalidDataException($"The model's settings name {field} entry '{name}', which is not an allowed file name: the model is damaged or was tampered with.");
                if (!seen.Add(name))
                    throw new InvalidDataException($"The model's settings name {field} entry '{name}' twice.");
            }
        }
    }

    /// <summary>Reads every tokenizer file (at most <see cref="MaxTokenizerFileBytes"/> each); names must be validated first.</summary>
    public static Dictionary<string, byte[]> ReadTokenizerFiles(object ctx, string[] names) =>
        names.ToDictionary(n => n, n => Read(ctx, TokenizerPrefix + n, MaxTokenizerFileBytes), StringComparer.Ordinal);

    /// <summary>
    /// Reads the network entries into memory: config.json first, then the weights, which together may hold no more than
    /// the parameters <paramref name="layout"/> computes from the config need (at 8 bytes each) plus their headers.
    /// Names must be validated first.
    /// </summary>
    public static CheckpointFiles ReadNetwork(object ctx, string[] names, Func<MambaConfig, IReadOnlyList<(string Name, long[] Shape)>> layout)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        files[HuggingFaceCheckpoint.ConfigFileName] = Read(ctx, NetworkPrefix + HuggingFaceCheckpoint.ConfigFileName, MaxSmallNetworkFileBytes);
        var config = PretrainedLoader.ReadConfig(CheckpointFiles.FromMemory(files, "the model zip"));
        var expected = layout(config);
        long budget = 0;
        foreach (var (_, shape) in expected)
            budget += shape.Aggregate(8L, (a, b) => a * b) + 1024; // validated sizes keep this far from overflow
        budget += 1 << 20;
        foreach (var name in names.Where(n => n != HuggingFaceCheckpoint.ConfigFileName))
        {
            long limit = name == SafeTensorsDirectory.IndexFileName ? MaxSmallNetworkFileBytes : Math.Min(budget, Array.MaxLength);
            var bytes = Read(ctx, NetworkPrefix + name, limit);
            if (name != SafeTensorsDirectory.IndexFileName) budget -= bytes.Length;
            files[name] = bytes;
        }
        return CheckpointFiles.FromMemory(files, "the model zip");
    }

    /// <summary>
    /// Reads one entry of at most <paramref name="maxBytes"/>; a missing, truncated, oversized or damaged entry is an
    /// <see cref="InvalidDataException"/> naming it. The declared length is checked before anything is allocated and
    /// the bytes are read in chunks, so memory follows what the entry really holds, not what it claims.
    /// </summary>
    /// <param name="ctx">ML.NET's ModelLoadContext.</param>
    /// <param name="name">The entry name.</param>
    /// <param name="maxBytes">The most bytes the entry may hold.</param>
    public static byte[] Read(object ctx, string name, long maxBytes)
    {
        byte[]? bytes = null;
        bool found;
        try
        {
            found = MLNetInternalsBridge.TryLoadBinaryStream(ctx, name, r =>
            {
                int length = r.ReadInt32();
                if (length < 0) throw new EndOfStreamException();
                if (length > maxBytes)
                    throw new InvalidDataException($"The model entry '{name}' declares {length} bytes, more than the {maxBytes}-byte limit for it: the model is damaged or hostile.");
                var stream = r.BaseStream;
                if (stream.CanSeek && length > stream.Length - stream.Position) throw new EndOfStreamException();
                bytes = ReadChunked(stream, length);
            });
        }
        catch (IOException e)
        {
            throw new InvalidDataException($"The model entry '{name}' is truncated or damaged.", e);
        }
        return found && bytes is not null ? bytes
            : throw new InvalidDataException($"The model has no '{name}' entry: it is damaged or was not saved by Microsoft.ML.Mamba.");
    }

    // Grows the buffer as bytes arrive, so a false length costs at most twice what the stream really holds.
    private static byte[] ReadChunked(Stream stream, int length)
    {
        var buffer = new byte[Math.Min(length, ChunkBytes)];
        int filled = 0;
        while (filled < length)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
            int read = stream.Read(buffer, filled, buffer.Length - filled);
            if (read <= 0) throw new EndOfStreamException();
            filled += read;
        }
        return buffer;
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardFileName();
}
