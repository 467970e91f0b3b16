using Microsoft.ML.Mamba.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The glue between a Hugging Face checkpoint (Checkpoints' name → tensor store) and our models: config.json read as a
/// <see cref="MambaConfig"/>, weight headers checked against the parameters the config implies before a model is
/// built, tensors copied into a module by parameter name, and a model written back with its config.
/// </summary>
internal static class PretrainedLoader
{
    /// <summary>config.json files beyond this are refused: real ones are about a kilobyte.</summary>
    public const int MaxConfigBytes = MambaConfig.MaxFileBytes;

    public static MambaConfig ReadConfig(string directory) => ReadConfig(CheckpointFiles.FromDirectory(directory));

    /// <summary>Reads and validates config.json.</summary>
    /// <exception cref="FileNotFoundException">There is no config.json.</exception>
    /// <exception cref="InvalidDataException">It is not a valid Mamba config; the message names the file and field.</exception>
    public static MambaConfig ReadConfig(CheckpointFiles files)
    {
        const string name = HuggingFaceCheckpoint.ConfigFileName;
        if (!files.Exists(name))
            throw new FileNotFoundException($"Mamba config file not found: {files.Describe(name)}", name);
        byte[] bytes = files.ReadAllBytes(name, MaxConfigBytes);
        return MambaConfig.FromBytes(bytes, files.Describe(name));
    }

    /// <summary>
    /// Reads the config, checks the weight headers against the parameters it implies (<paramref name="layout"/>), and
    /// only then builds the model and loads the weights into it: a damaged or hostile checkpoint fails without allocating
    /// the model it describes. The model is disposed if loading fails.
    /// </summary>
    public static TModel Load<TModel>(CheckpointFiles files, Func<MambaConfig, IReadOnlyList<(string Name, long[] Shape)>> layout,
        Func<MambaConfig, TModel> build, Device? device, Func<string, bool> optional, Func<string, bool>? ignore = null)
        where TModel : nn.Module
    {
        var config = ReadConfig(files);
        CheckHeaders(files, layout(config), optional, ignore);
        var model = build(config);
        try
        {
            LoadInto(model, files, optional, ignore);
            if (device is not null) model.to(device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

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
        var entries = HuggingFaceCheckpoint.ReadEntries(files);
        var shapes = entries.ToDictionary(e => e.Key, e => e.Value.Shape, StringComparer.Ordinal);
        var problems = HuggingFaceCheckpoint.Compare(expected, shapes, optional, ignore, name =>
            entries[name].DType is "F16" or "BF16" or "F32" or "F64" ? null
                : $"tensor '{name}' has dtype {entries[name].DType} in the checkpoint but the model needs floating point (F16, BF16, F32 or F64)");
        if (problems.Count > 0) throw HuggingFaceCheckpoint.Mismatch(files.Description, problems);
    }

    /// <summary>
    /// Copies the checkpoint's tensors into <paramref name="module"/>'s parameters, by name. Every parameter must be
    /// present with the same shape unless <paramref name="optional"/> says otherwise; every tensor must be used unless
    /// <paramref name="ignore"/> says otherwise. Errors name the tensor and both shapes.
    /// </summary>
    public static void LoadInto(nn.Module module, CheckpointFiles files, Func<string, bool> optional, Func<string, bool>? ignore = null)
    {
        var tensors = HuggingFaceCheckpoint.ReadTensors(files);
        try
        {
            var parameters = module.named_parameters().ToList();
            var problems = HuggingFaceCheckpoint.Compare(parameters.Select(p => (p.name, p.parameter.shape)),
                tensors.ToDictionary(t => t.Key, t => t.Value.shape, StringComparer.Ordinal), optional, ignore);
            if (problems.Count > 0) throw HuggingFaceCheckpoint.Mismatch(files.Description, problems);
            using var _ = no_grad();
            foreach (var (name, parameter) in parameters)
                if (tensors.TryGetValue(name, out var source)) parameter.copy_(source);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Writes config.json and the module's parameters as safetensors in the Hugging Face layout.</summary>
    public static void Save(nn.Module module, MambaConfig config, string directory)
    {
        Directory.CreateDirectory(directory);
        using var scope = NewDisposeScope();
        var tensors = module.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().contiguous());
        HuggingFaceCheckpoint.WriteTensors(directory, tensors);
        config.Save(Path.Combine(directory, HuggingFaceCheckpoint.ConfigFileName));
    }
}
