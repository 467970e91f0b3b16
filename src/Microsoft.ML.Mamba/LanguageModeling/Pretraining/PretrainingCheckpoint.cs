using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// The resumable state of a <see cref="Pretrainer"/> run in one folder: the weights (Hugging Face layout), AdamW's
/// moments and step counts (<c>optimizer.safetensors</c>, by parameter name) and <c>trainer_state.json</c> (step,
/// tokens, time, the data settings that fix the batch order). Written to a sibling folder and swapped in, so a crash
/// while saving leaves the previous checkpoint whole.
/// </summary>
internal static class PretrainingCheckpoint
{
    public const string FolderName = "checkpoint";
    private const string OptimizerFile = "optimizer.safetensors", StateFile = "trainer_state.json";
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    internal sealed class State
    {
        [JsonPropertyName("step")] public int Step { get; set; }
        [JsonPropertyName("tokens")] public long Tokens { get; set; }
        [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; set; }
        [JsonPropertyName("seed")] public int Seed { get; set; }
        [JsonPropertyName("batch_size")] public int BatchSize { get; set; }
        [JsonPropertyName("block_length")] public int BlockLength { get; set; }
        [JsonPropertyName("max_steps")] public int MaxSteps { get; set; }
        [JsonPropertyName("tokenizer")] public string Tokenizer { get; set; } = "";
        [JsonPropertyName("recent_losses")] public List<double> RecentLosses { get; set; } = new();
    }

    public static string PathIn(string workingDirectory) => Path.Combine(workingDirectory, FolderName);

    public static bool Exists(string workingDirectory) => File.Exists(Path.Combine(PathIn(workingDirectory), StateFile));

    public static void Save(string workingDirectory, MambaForCausalLM model, AdamW optimizer, IReadOnlyList<(string Name, Parameter Parameter)> ordered, State state)
    {
        string target = PathIn(workingDirectory), saving = target + ".saving", previous = target + ".previous";
        if (Directory.Exists(saving)) Directory.Delete(saving, recursive: true);
        Directory.CreateDirectory(saving);
        model.SavePretrained(saving);
        using (var scope = NewDisposeScope())
        {
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, s) in AdamStates(optimizer, ordered))
            {
                tensors[name + ".exp_avg"] = s.exp_avg.detach().cpu();
                tensors[name + ".exp_avg_sq"] = s.exp_avg_sq.detach().cpu();
                tensors[name + ".step"] = tensor(new[] { s.step });
            }
            SafeTensorsFile.Save(Path.Combine(saving, OptimizerFile), tensors, new Dictionary<string, string> { ["optimizer"] = "AdamW" });
        }
        File.WriteAllText(Path.Combine(saving, StateFile), JsonSerializer.Serialize(state, s_json));
        if (Directory.Exists(target))
        {
            if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
            Directory.Move(target, previous);
        }
        Directory.Move(saving, target);
        if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
    }

    /// <summary>Reads the state file only (to check the settings before anything is loaded).</summary>
    public static State ReadState(string workingDirectory)
    {
        string path = Path.Combine(PathIn(workingDirectory), StateFile);
        try
        {
            return JsonSerializer.Deserialize<State>(File.ReadAllText(path)) ?? throw new InvalidDataException("empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid pretraining state: {e.Message}", e);
        }
    }

    /// <summary>Loads the weights into <paramref name="model"/> and the moments into <paramref name="optimizer"/>.</summary>
    public static void Load(string workingDirectory, MambaForCausalLM model, AdamW optimizer, IReadOnlyList<(string Name, Parameter Parameter)> ordered)
    {
        string folder = PathIn(workingDirectory), path = Path.Combine(folder, OptimizerFile);
        PretrainedLoader.LoadInto(model, CheckpointFiles.FromDirectory(folder), optional: _ => false);
        var saved = SafeTensorsFile.Load(path);
        try
        {
            using var _ = no_grad();
            foreach (var (name, s) in AdamStates(optimizer, ordered))
            {
                Copy(name + ".exp_avg", s.exp_avg);
                Copy(name + ".exp_avg_sq", s.exp_avg_sq);
                s.step = Get(name + ".step").item<long>();
            }
        }
        finally
        {
            foreach (var t in saved.Values) t.Dispose();
        }

        void Copy(string key, Tensor into)
        {
            var source = Get(key);
            if (!source.shape.SequenceEqual(into.shape) || source.dtype != into.dtype)
                throw new MambaCheckpointException($"{path}: {key} is {source.dtype} [{string.Join(", ", source.shape)}] but the optimizer needs {into.dtype} [{string.Join(", ", into.shape)}] (another model size or dtype?)");
            into.copy_(source);
        }
        Tensor Get(string key) => saved.TryGetValue(key, out var t) ? t : throw new MambaCheckpointException($"{path}: no tensor {key} (saved for another model?)");
    }

    // AdamW's per-parameter state in the optimizer's own order (its groups, in order), paired with the parameters' names.
    private static List<(string Name, AdamW.State State)> AdamStates(AdamW optimizer, IReadOnlyList<(string Name, Parameter Parameter)> ordered)
    {
        var states = optimizer.state_dict().State;
        if (states.Count != ordered.Count)
            throw new InvalidOperationException($"the optimizer holds {states.Count} parameter states but {ordered.Count} parameters are trained");
        var result = new List<(string, AdamW.State)>(ordered.Count);
        for (int i = 0; i < ordered.Count; i++)
        {
            var s = states[i] as AdamW.State ?? throw new InvalidOperationException($"expected AdamW state, got {states[i].GetType().Name}");
            if (!s.exp_avg.shape.SequenceEqual(ordered[i].Parameter.shape))
                throw new InvalidOperationException($"optimizer state {i} does not match parameter {ordered[i].Name}");
            result.Add((ordered[i].Name, s));
        }
        return result;
    }
}
