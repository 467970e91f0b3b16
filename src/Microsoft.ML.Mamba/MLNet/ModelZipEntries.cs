namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The named binary entries our transformers keep in an ML.NET model zip, each a length-prefixed blob
/// (Int32 length, then the bytes): a settings JSON, the network files (config.json + safetensors) and the
/// tokenizer's files. Shared by every transformer that saves a Mamba network.
/// </summary>
internal static class ModelZipEntries
{
    public const string NetworkPrefix = "Mamba.Network.";
    public const string TokenizerPrefix = "Mamba.Tokenizer.";

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

    /// <summary>Reads one entry; a missing, truncated or damaged entry is an <see cref="InvalidDataException"/> naming it.</summary>
    /// <param name="ctx">ML.NET's ModelLoadContext.</param>
    /// <param name="name">The entry name.</param>
    public static byte[] Read(object ctx, string name)
    {
        byte[]? bytes = null;
        bool found;
        try
        {
            found = MLNetInternalsBridge.TryLoadBinaryStream(ctx, name, r =>
            {
                int length = r.ReadInt32();
                bytes = r.ReadBytes(length);
                if (length < 0 || bytes.Length != length) throw new EndOfStreamException();
            });
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            throw new InvalidDataException($"The model entry '{name}' is truncated or damaged.", e);
        }
        return found && bytes is not null ? bytes
            : throw new InvalidDataException($"The model has no '{name}' entry: it is damaged or was not saved by Microsoft.ML.Mamba.");
    }
}
