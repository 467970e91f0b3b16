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

    public static MambaConfig ReadConfig(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Mamba checkpoint directory not found: {directory}");
        return MambaConfig.Load(Path.Combine(directory, ConfigFileName));
    }

    /// <summary>
    /// Copies the checkpoint's tensors into <paramref name="module"/>'s parameters. Every parameter must be
    /// present with the same shape unless <paramref name="optional"/> says otherwise; every tensor must be
    /// used unless <paramref name="ignore"/> says otherwise. Errors name the tensor and both shapes.
    /// </summary>
    public static void Load(nn.Module module, string directory, Func<string, bool> optional, Func<string, bool>? ignore = null)
    {
        var tensors = SafeTensorsDirectory.Load(directory);
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
                throw new MambaCheckpointException(
                    $"The checkpoint in '{directory}' does not match the model ({problems.Count} problem(s)):\n  " + string.Join("\n  ", problems));
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
    private static Dictionary<string, Tensor> Normalise(Dictionary<string, Tensor> tensors)
    {
        bool bareBackbone = !tensors.Keys.Any(k => k.StartsWith("backbone.", StringComparison.Ordinal))
                            && tensors.Keys.Any(k => k.StartsWith("layers.", StringComparison.Ordinal) || k.StartsWith("embeddings.", StringComparison.Ordinal));
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, tensor) in tensors)
        {
            var key = bareBackbone && !name.StartsWith("lm_head.", StringComparison.Ordinal) ? "backbone." + name : name;
            if (key == "backbone.embedding.weight") key = "backbone.embeddings.weight";
            if (!result.TryAdd(key, tensor))
                throw new MambaCheckpointException($"The checkpoint holds '{name}' twice under different spellings");
        }
        return result;
    }

    private static string Shape(Tensor t) => "(" + string.Join(", ", t.shape) + ")";
}
