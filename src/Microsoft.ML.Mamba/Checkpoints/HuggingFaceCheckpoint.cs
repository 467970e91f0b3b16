using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>
/// A Hugging Face Mamba checkpoint as a name → tensor store: its weight files (safetensors, sharded or not) read and
/// written under the parameter names of Hugging Face's modules, which ours share. mamba_ssm's naming is mapped on
/// reading (<c>backbone.embedding.weight</c>, a saved copy of a tied <c>lm_head.weight</c>, a bare backbone saved
/// without the <c>backbone.</c> prefix). It knows nothing of models or configs: matching names against a model and
/// reading config.json are the modeling layer's (Modeling's <c>PretrainedLoader</c>).
/// </summary>
internal static class HuggingFaceCheckpoint
{
    /// <summary>The checkpoint's config file, next to the weights.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>Largest shard written by <see cref="WriteTensors"/>.</summary>
    public const long MaxShardBytes = 2L << 30;

    /// <summary>The name of the output projection, which mamba_ssm also saves when it is tied to the embeddings.</summary>
    public const string LmHeadName = "lm_head.weight";

    /// <summary>The weight files' header entries under our names, without reading any tensor data.</summary>
    /// <exception cref="FileNotFoundException">There are no weight files.</exception>
    /// <exception cref="MambaCheckpointException">A header is damaged, or a tensor is in more than one file or under two spellings.</exception>
    public static Dictionary<string, SafeTensorsEntry> ReadEntries(CheckpointFiles files)
    {
        var entries = new Dictionary<string, SafeTensorsEntry>(StringComparer.Ordinal);
        foreach (var (_, header) in SafeTensorsDirectory.ReadHeaders(files))
            foreach (var entry in header.Entries)
                if (!entries.TryAdd(entry.Name, entry))
                    throw new MambaCheckpointException($"The checkpoint in '{files.Description}' holds tensor '{entry.Name}' in more than one file.");
        return Normalise(entries);
    }

    /// <summary>Every tensor of the weight files under our names, on the CPU; the caller owns and disposes them.</summary>
    /// <exception cref="FileNotFoundException">There are no weight files.</exception>
    /// <exception cref="MambaCheckpointException">A file is damaged, or a tensor is under two spellings.</exception>
    public static Dictionary<string, Tensor> ReadTensors(CheckpointFiles files)
    {
        var tensors = SafeTensorsDirectory.Load(files);
        try { return Normalise(tensors); }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Writes tensors as safetensors (sharded above <see cref="MaxShardBytes"/>) in the Hugging Face layout.</summary>
    public static void WriteTensors(string directory, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Directory.CreateDirectory(directory);
        SafeTensorsDirectory.SaveSharded(directory, tensors, MaxShardBytes, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// What keeps a checkpoint's names and shapes from matching the ones a model expects: missing tensors (unless
    /// <paramref name="optional"/>), other shapes, and tensors the model has no place for (unless <paramref name="ignore"/>,
    /// or a tied head's saved copy when the model has no <see cref="LmHeadName"/>).
    /// </summary>
    /// <param name="expected">The model's parameter names and shapes.</param>
    /// <param name="found">The checkpoint's tensor names (normalised) and shapes.</param>
    /// <param name="optional">Expected names that may be missing.</param>
    /// <param name="ignore">Checkpoint names that may be left unused.</param>
    /// <param name="checkMatched">A further check of a tensor whose name and shape match (e.g. its dtype): a problem or null.</param>
    /// <returns>One line per problem, in the model's order, then the checkpoint's; empty when they match.</returns>
    public static List<string> Compare(IEnumerable<(string Name, long[] Shape)> expected, IReadOnlyDictionary<string, long[]> found,
        Func<string, bool> optional, Func<string, bool>? ignore = null, Func<string, string?>? checkMatched = null)
    {
        var problems = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            names.Add(name);
            if (!found.TryGetValue(name, out var actual))
            {
                if (!optional(name)) problems.Add($"missing tensor '{name}' (the model expects shape {Shape(shape)})");
            }
            else if (!actual.SequenceEqual(shape))
                problems.Add($"tensor '{name}' has shape {Shape(actual)} in the checkpoint but the model expects {Shape(shape)}");
            else if (checkMatched?.Invoke(name) is { } problem)
                problems.Add(problem);
        }
        bool tied = !names.Contains(LmHeadName);
        foreach (var (name, shape) in found)
        {
            if (names.Contains(name)) continue;
            bool tiedCopy = tied && name == LmHeadName; // mamba_ssm saves the tied head too
            if (!tiedCopy && !(ignore?.Invoke(name) ?? false))
                problems.Add($"unexpected tensor '{name}' with shape {Shape(shape)}: the model has no such parameter");
        }
        return problems;
    }

    /// <summary>The exception for a checkpoint that does not match its model, listing the first problems.</summary>
    public static MambaCheckpointException Mismatch(string where, IReadOnlyList<string> problems)
    {
        // A hostile file can hold millions of names; the first few say enough.
        const int shown = 20;
        string more = problems.Count > shown ? $"\n  ... and {problems.Count - shown} more" : "";
        return new MambaCheckpointException(
            $"The checkpoint in '{where}' does not match the model ({problems.Count} problem(s)):\n  " + string.Join("\n  ", problems.Take(shown)) + more);
    }

    // Names as Hugging Face's modules (and ours) spell them.
    private static Dictionary<string, T> Normalise<T>(Dictionary<string, T> tensors)
    {
        bool bareBackbone = !tensors.Keys.Any(k => k.StartsWith("backbone.", StringComparison.Ordinal))
                            && tensors.Keys.Any(k => k.StartsWith("layers.", StringComparison.Ordinal) || k.StartsWith("embeddings.", StringComparison.Ordinal));
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            var key = bareBackbone && !name.StartsWith("lm_head.", StringComparison.Ordinal) ? "backbone." + name : name;
            if (key == "backbone.embedding.weight") key = "backbone.embeddings.weight";
            if (!result.TryAdd(key, tensor))
                throw new MambaCheckpointException($"The checkpoint holds '{name}' twice under different spellings");
        }
        return result;
    }

    private static string Shape(long[] shape) => "(" + string.Join(", ", shape) + ")";
}
