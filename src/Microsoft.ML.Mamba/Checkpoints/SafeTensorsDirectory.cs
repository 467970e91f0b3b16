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
        string indexPath = Path.Combine(directory, IndexFileName);
        if (File.Exists(indexPath))
        {
            return LoadSharded(directory, indexPath, device);
        }

        string singlePath = Path.Combine(directory, SingleFileName);
        if (File.Exists(singlePath))
        {
            return SafeTensorsFile.Load(singlePath, device);
        }

        throw new FileNotFoundException(
            $"The directory '{directory}' holds neither '{IndexFileName}' nor '{SingleFileName}'.", singlePath);
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
    /// are deleted so that <see cref="Load"/> cannot pick them up.
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

    private static Dictionary<string, torch.Tensor> LoadSharded(string directory, string indexPath, torch.Device? device)
    {
        var weightMap = ReadWeightMap(indexPath);
        var result = new Dictionary<string, torch.Tensor>(weightMap.Count, StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.GroupBy(item => item.Value, item => item.Key, StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(directory, shard.Key);
                if (!File.Exists(shardPath))
                {
                    throw new MambaCheckpointException(
                        $"Shard index '{indexPath}': shard '{shard.Key}' (holding '{shard.First()}' and {shard.Count() - 1} other tensors) does not exist at '{shardPath}'.");
                }

                var loaded = SafeTensorsFile.Load(shardPath, device);
                var expected = shard.ToHashSet(StringComparer.Ordinal);
                string? unexpected = loaded.Keys.FirstOrDefault(name => !expected.Contains(name));
                string? missing = expected.FirstOrDefault(name => !loaded.ContainsKey(name));
                foreach (var (name, tensor) in loaded)
                {
                    result.Add(name, tensor);
                }

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

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw new MambaCheckpointException($"Shard index '{indexPath}' is not valid JSON ({e.Message}).", e);
        }

        using (document)
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
                if (string.IsNullOrEmpty(file) || file != Path.GetFileName(file) || file is "." or "..")
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
}
