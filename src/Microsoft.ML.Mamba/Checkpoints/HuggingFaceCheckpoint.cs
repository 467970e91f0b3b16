using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>
/// Maps a Hugging Face Mamba checkpoint directory (config.json + safetensors) onto our modules, whose
/// parameter names already follow Hugging Face's. Also accepts mamba_ssm's naming
/// (<c>backbone.embedding.weight</c>, a saved copy of a tied <c>lm_head.weight</c>) and a bare backbone
/// saved without the <c>backbone.</c> prefix.
/// </summary>
internal static class HuggingFaceCheckpoint
{
    public const string ConfigFileName = "config.json";

    /// <summary>Largest shard written by <see cref="Save"/>.</summary>
    public const long MaxShardBytes = 2L << 30;

    public static MambaConfig ReadConfig(string directory) => ReadConfig(CheckpointFiles.FromDirectory(directory));

    /// <summary>Reads and validates config.json.</summary>
    /// <exception cref="FileNotFoundException">There is no config.json.</exception>
    /// <exception cref="InvalidDataException">It is not a valid Mamba config; the message names the file and field.</exception>
    public static MambaConfig ReadConfig(CheckpointFiles files)
    {
        if (!files.Exists(ConfigFileName))
            throw new FileNotFoundException($"Mamba config file not found: {files.Describe(ConfigFileName)}", ConfigFileName);
        byte[] bytes = files.ReadAllBytes(ConfigFileName, MaxConfigBytes);
        return MambaConfig.FromBytes(bytes, files.Describe(ConfigFileName));
    }

    /// <summary>config.json files beyond this are refused: real ones are about a kilobyte.</summary>
    public const int MaxConfigBytes = MambaConfig.MaxFileBytes;

    /// <summary>
    /// Checks the weight files' headers against the parameters a config implies, before the model is built: every
    /// expected tensor must be there with the same shape and a floating-point dtype (unless <paramref name="optional"/>),
    /// and every tensor must be expected (unless <paramref name="ignore"/>). As headers are checked against the file
    /// sizes, a config cannot promise more weights than the files hold.
    /// </summary>
    /// <exception cref="FileNotFoundException">There are no weight files.</exception>
    /// <exception cref="MambaCheckpointException">The headers are damaged or do not match; the message lists the problems.</exception>
    public static void CheckHeaders(CheckpointFiles files, IReadOnlyList<(string Name, long[] Shape)> expected,
        Func<string, bool> optional, Func<string, bool>? ignore = null)
    {
        var entries = new Dictionary<string, SafeTensorsEntry>(StringComparer.Ordinal);
        foreach (var (_, header) in SafeTensorsDirectory.ReadHeaders(files))
            foreach (var entry in header.Entries)
                if (!entries.TryAdd(entry.Name, entry))
                    throw new MambaCheckpointException($"The checkpoint in '{files.Description}' holds tensor '{entry.Name}' in more than one file.");
        var named = Normalise(entries);
        var parameters = expected.ToDictionary(p => p.Name, p => p.Shape, StringComparer.Ordinal);
        bool tied = !parameters.ContainsKey("lm_head.weight");
        var problems = new List<string>();
        foreach (var (name, shape) in expected)
        {
            if (!named.TryGetValue(name, out var source))
            {
                if (!optional(name)) problems.Add($"missing tensor '{name}' (the model expects shape {Shape(shape)})");
                continue;
            }
            if (!source.Shape.SequenceEqual(shape))
                problems.Add($"tensor '{name}' has shape {Shape(source.Shape)} in the checkpoint but the model expects {Shape(shape)}");
            else if (source.DType is not ("F16" or "BF16" or "F32" or "F64"))
                problems.Add($"tensor '{name}' has dtype {source.DType} in the checkpoint but the model needs floating point (F16, BF16, F32 or F64)");
        }
        foreach (var name in named.Keys.Where(n => !parameters.ContainsKey(n)))
        {
            bool tiedCopy = tied && name == "lm_head.weight";
            if (!tiedCopy && !(ignore?.Invoke(name) ?? false))
                problems.Add($"unexpected tensor '{name}' with shape {Shape(named[name].Shape)}: the model has no such parameter");
        }
        if (problems.Count > 0)
            throw Mismatch(files.Description, problems);
    }

    private static MambaCheckpointException Mismatch(string where, List<string> problems)
    {
        // A hostile file can hold millions of names; the first few say enough.
        const int shown = 20;
        string more = problems.Count > shown ? $"\n  ... and {problems.Count - shown} more" : "";
        return new MambaCheckpointException(
            $"The checkpoint in '{where}' does not match the model ({problems.Count} problem(s)):\n  " + string.Join("\n  ", problems.Take(shown)) + more);
    }

    /// <summary>
    /// Copies the checkpoint's tensors into <paramref name="module"/>'s parameters. Every parameter must be
    /// present with the same shape unless <paramref name="optional"/> says otherwise; every tensor must be
    /// used unless <paramref name="ignore"/> says otherwise. Errors name the tensor and both shapes.
    /// </summary>
    public static void Load(nn.Module module, string directory, Func<string, bool> optional, Func<string, bool>? ignore = null) =>
        Load(module, CheckpointFiles.FromDirectory(directory), optional, ignore);

    /// <inheritdoc cref="Load(nn.Module, string, Func{string, bool}, Func{string, bool}?)"/>
    public static void Load(nn.Module module, CheckpointFiles files, Func<string, bool> optional, Func<string, bool>? ignore = null)
    {
        var tensors = SafeTensorsDirectory.Load(files);
        try
        {
            var named = Normalise(tensors);
            var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            bool tied = !parameters.ContainsKey("lm_head.weight");
            var problems = new List<string>();
            foreach (var (name, parameter) in parameters)
            {
                if (!named.TryGetValue(name, out var source))
                {
                    if (!optional(name)) problems.Add($"missing tensor '{name}' (the model expects shape {Shape(parameter)})");
                    continue;
                }
                if (!source.shape.SequenceEqual(parameter.shape))
                {
                    problems.Add($"tensor '{name}' has shape {Shape(source)} in the checkpoint but the model expects {Shape(parameter)}");
                    continue;
                }
                using (no_grad()) parameter.copy_(source);
            }
            foreach (var name in named.Keys.Where(n => !parameters.ContainsKey(n)))
            {
                bool tiedCopy = tied && name == "lm_head.weight"; // mamba_ssm saves the tied head too
                if (!tiedCopy && !(ignore?.Invoke(name) ?? false))
                    problems.Add($"unexpected tensor '{name}' with shape {Shape(named[name])}: the model has no such parameter");
            }
            if (problems.Count > 0)
                throw Mismatch(files.Description, problems);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Writes config.json and the parameters as safetensors (sharded above <see cref="MaxShardBytes"/>).</summary>
    public static void Save(nn.Module module, MambaConfig config, string directory)
    {
        Directory.CreateDirectory(directory);
        using var scope = NewDisposeScope();
        var tensors = module.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().contiguous());
        SafeTensorsDirectory.SaveSharded(directory, tensors, MaxShardBytes, new Dictionary<string, string> { ["format"] = "pt" });
        config.Save(Path.Combine(directory, ConfigFileName));
    }

    // Names as our modules spell them.
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

    private static string Shape(Tensor t) => Shape(t.shape);

    private static string Shape(long[] shape) => "(" + string.Join(", ", shape) + ")";
}
