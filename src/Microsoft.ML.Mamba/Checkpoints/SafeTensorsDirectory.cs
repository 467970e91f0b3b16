using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>
/// Reads and writes the safetensors weights of a Hugging Face-style model directory: either one
/// <c>model.safetensors</c>, or shards <c>model-00001-of-0000N.safetensors</c> listed by <c>model.safetensors.index.json</c>.
/// </summary>
public static partial class SafeTensorsDirectory
{
    /// <summary>The file name of unsharded weights.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The file name of the index that maps each tensor to its shard.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Shard indexes beyond this are refused unread (real ones are kilobytes, about 100 bytes a tensor).</summary>
    internal const int MaxIndexBytes = 16 << 20;

    /// <summary>Loads all weights of a model directory, from the shard index when there is one, else from <c>model.safetensors</c>.</summary>
    /// <param name="directory">The model directory.</param>
    /// <param name="device">Where the tensors should live; the CPU when null.</param>
    /// <returns>The tensors by name. The caller owns and disposes them.</returns>
    /// <exception cref="FileNotFoundException">The directory holds neither an index nor <c>model.safetensors</c>.</exception>
    /// <exception cref="MambaCheckpointException">
    /// A file is corrupt, the index is malformed, a shard it names is missing, or the index and shards disagree about which tensors exist.
    /// </exception>
    public static Dictionary<string, torch.Tensor> Load(string directory, torch.Device? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new FileNotFoundException($"The directory '{directory}' does not exist.", Path.Combine(directory, SingleFileName));
        }

        return Load(CheckpointFiles.FromDirectory(directory), device);
    }

    /// <summary>Loads all weights of a checkpoint held in a directory or in memory.</summary>
    internal static Dictionary<string, torch.Tensor> Load(CheckpointFiles files, torch.Device? device = null)
    {
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (file, header) in ReadHeaders(files))
            {
                using var stream = files.Open(file);
                foreach (var (name, tensor) in SafeTensorsFile.ReadTensors(stream, header, files.Describe(file), device))
                {
                    result.Add(name, tensor);
                }
            }
        }
        catch
        {
            foreach (var tensor in result.Values)
            {
                tensor.Dispose();
            }

            throw;
        }

        return result;
    }

    /// <summary>
    /// Reads and cross-checks the headers of every weight file (the shards the index names, or <c>model.safetensors</c>)
    /// without reading any tensor data, so a caller can check names and shapes before allocating anything.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is neither an index nor <c>model.safetensors</c>.</exception>
    /// <exception cref="MambaCheckpointException">A header or the index is malformed, or they disagree.</exception>
    internal static List<(string File, SafeTensorsHeader Header)> ReadHeaders(CheckpointFiles files)
    {
        var headers = new List<(string, SafeTensorsHeader)>();
        if (files.Exists(IndexFileName))
        {
            string indexPath = files.Describe(IndexFileName);
            if (files.Length(IndexFileName) > MaxIndexBytes)
            {
                throw new MambaCheckpointException($"Shard index '{indexPath}' is {files.Length(IndexFileName)} bytes, more than the {MaxIndexBytes}-byte limit.");
            }

            var weightMap = ReadWeightMap(files.ReadAllBytes(IndexFileName, MaxIndexBytes), indexPath);
            foreach (var shard in weightMap.GroupBy(item => item.Value, item => item.Key, StringComparer.Ordinal))
            {
                string shardPath = files.Describe(shard.Key);
                if (!files.Exists(shard.Key))
                {
                    throw new MambaCheckpointException(
                        $"Shard index '{indexPath}': shard '{shard.Key}' (holding '{shard.First()}' and {shard.Count() - 1} other tensors) does not exist at '{shardPath}'.");
                }

                SafeTensorsHeader header;
                using (var stream = files.Open(shard.Key))
                {
                    header = SafeTensorsHeader.Read(stream, shardPath);
                }

                var expected = shard.ToHashSet(StringComparer.Ordinal);
                var loaded = header.Entries.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
                string? unexpected = loaded.FirstOrDefault(name => !expected.Contains(name));
                string? missing = expected.FirstOrDefault(name => !loaded.Contains(name));
                if (missing is not null)
                {
                    throw new MambaCheckpointException(
                        $"Shard index '{indexPath}': tensor '{missing}' should be in shard '{shardPath}', but that file does not hold it.");
                }

                if (unexpected is not null)
                {
                    throw new MambaCheckpointException(
                        $"Shard index '{indexPath}': shard '{shardPath}' holds tensor '{unexpected}', which the index assigns to {(weightMap.TryGetValue(unexpected, out var other) ? $"'{other}'" : "no shard")}.");
                }

                headers.Add((shard.Key, header));
            }

            return headers;
        }

        if (!files.Exists(SingleFileName))
        {
            throw new FileNotFoundException(
                $"The directory '{files.Description}' holds neither '{IndexFileName}' nor '{SingleFileName}'.", files.Describe(SingleFileName));
        }

        using (var stream = files.Open(SingleFileName))
        {
            headers.Add((SingleFileName, SafeTensorsHeader.Read(stream, files.Describe(SingleFileName))));
        }

        return headers;
    }

    /// <summary>
    /// Saves weights the way Hugging Face <c>save_pretrained</c> does: shards of at most <paramref name="maxShardBytes"/>
    /// named <c>model-00001-of-0000N.safetensors</c> plus <c>model.safetensors.index.json</c>, or a single
    /// <c>model.safetensors</c> (and no index) when everything fits in one shard.
    /// </summary>
    /// <param name="directory">The model directory; created when missing.</param>
    /// <param name="tensors">The tensors by name; they are assigned to shards in ordinal name order.</param>
    /// <param name="maxShardBytes">The most tensor bytes per shard. A tensor larger than this gets a shard of its own.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings written into every shard.</param>
    /// <returns>The names of the files written, shards first, then the index when there is one.</returns>
    /// <remarks>
    /// Weight files left in the directory by an earlier save (a stale index, single file or shards of another count)
    /// are deleted so that <see cref="Load(string, torch.Device?)"/> cannot pick them up.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxShardBytes"/> is not positive.</exception>
    public static IReadOnlyList<string> SaveSharded(
        string directory,
        IReadOnlyDictionary<string, torch.Tensor> tensors,
        long maxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);

        var shards = AssignShards(tensors, maxShardBytes);
        Directory.CreateDirectory(directory);

        var written = new List<string>();
        if (shards.Count <= 1)
        {
            var only = shards.Count == 1 ? shards[0].Tensors : new Dictionary<string, torch.Tensor>();
            SafeTensorsFile.Save(Path.Combine(directory, SingleFileName), only, metadata);
            written.Add(SingleFileName);
        }
        else
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            long totalSize = 0;
            for (int i = 0; i < shards.Count; i++)
            {
                string fileName = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                SafeTensorsFile.Save(Path.Combine(directory, fileName), shards[i].Tensors, metadata);
                foreach (string name in shards[i].Tensors.Keys)
                {
                    weightMap[name] = fileName;
                }

                totalSize += shards[i].Bytes;
                written.Add(fileName);
            }

            WriteIndex(Path.Combine(directory, IndexFileName), weightMap, totalSize);
            written.Add(IndexFileName);
        }

        DeleteStaleWeightFiles(directory, written);
        return written;
    }

    private sealed record Shard(Dictionary<string, torch.Tensor> Tensors, long Bytes);

    private static List<Shard> AssignShards(IReadOnlyDictionary<string, torch.Tensor> tensors, long maxShardBytes)
    {
        var shards = new List<Shard>();
        var current = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        long currentBytes = 0;
        foreach (string name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            var tensor = tensors[name] ?? throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            long bytes = SafeTensorsFile.ByteSize(name, tensor);

            // Start a new shard when this tensor would overflow a non-empty one, as Hugging Face does.
            if (current.Count > 0 && currentBytes + bytes > maxShardBytes)
            {
                shards.Add(new Shard(current, currentBytes));
                current = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
                currentBytes = 0;
            }

            current.Add(name, tensor);
            currentBytes += bytes;
        }

        if (current.Count > 0)
        {
            shards.Add(new Shard(current, currentBytes));
        }

        return shards;
    }

    private static void WriteIndex(string path, SortedDictionary<string, string> weightMap, long totalSize)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("metadata");
        json.WriteNumber("total_size", totalSize);
        json.WriteEndObject();
        json.WriteStartObject("weight_map");
        foreach (var (name, file) in weightMap)
        {
            json.WriteString(name, file);
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardFileName();

    private static void DeleteStaleWeightFiles(string directory, List<string> written)
    {
        foreach (string path in Directory.EnumerateFiles(directory))
        {
            string fileName = Path.GetFileName(path);
            bool isWeightFile = fileName is SingleFileName or IndexFileName || ShardFileName().IsMatch(fileName);
            if (isWeightFile && !written.Contains(fileName))
            {
                File.Delete(path);
            }
        }
    }

    private static Dictionary<string, string> ReadWeightMap(byte[] indexBytes, string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(indexBytes);
        }
        catch (JsonException e)
        {
            throw new MambaCheckpointException($"Shard index '{indexPath}' is not valid JSON ({e.Message}).", e);
        }

        using (document)
        {
            try
            {
                return ParseWeightMap(document, indexPath);
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument checks UTF-8 only when a string is read.
                throw new MambaCheckpointException($"Shard index '{indexPath}' holds a name that is not valid UTF-8 ({e.Message}).", e);
            }
        }
    }

    private static Dictionary<string, string> ParseWeightMap(JsonDocument document, string indexPath)
    {
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("weight_map", out var map)
            || map.ValueKind != JsonValueKind.Object)
        {
            throw new MambaCheckpointException($"Shard index '{indexPath}' has no 'weight_map' object.");
        }

        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in map.EnumerateObject())
        {
            string? file = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString() : null;

            // Shards must be plain file names in the same directory; anything else is corrupt or hostile.
            if (!CheckpointFiles.IsPlainFileName(file))
            {
                throw new MambaCheckpointException(
                    $"Shard index '{indexPath}': tensor '{item.Name}' maps to {item.Value}, which is not a file name in the same directory.");
            }

            if (!weightMap.TryAdd(item.Name, file))
            {
                throw new MambaCheckpointException($"Shard index '{indexPath}' lists tensor '{item.Name}' more than once.");
            }
        }

        return weightMap;
    }
}
