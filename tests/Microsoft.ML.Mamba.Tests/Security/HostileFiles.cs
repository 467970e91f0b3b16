using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>
/// Makes the valid files the security tests start from (tiny model zips, a tiny checkpoint) and the tampered
/// versions they load: rewritten or added zip entries, edited settings, forged safetensors headers.
/// </summary>
internal static class HostileFiles
{
    public const string SettingsEntry = "Mamba.Settings.json";
    public const string LanguageModelSettingsEntry = "Mamba.LanguageModel.Settings.json";

    private sealed class TextRow { public string Text { get; set; } = ""; }
    private sealed class PromptRow { public string Prompt { get; set; } = ""; }

    /// <summary>A config small enough to save and load thousands of times; vocab 260 fits the byte tokenizer (259).</summary>
    public static MambaConfig TinyConfig(int vocab = 260) => new()
    {
        VocabSize = vocab, HiddenSize = 8, StateSize = 2, NumHiddenLayers = 1, Expand = 2, ConvKernel = 2,
    };

    private static readonly Lazy<byte[]> s_classifier = new(() =>
    {
        var ml = new MLContext(seed: 1);
        var settings = new MambaTransformerSettings
        {
            Task = MambaTask.BinaryClassification, TextColumnNames = ["Text"], NumberOfClasses = 1, MaxSequenceLength = 16,
            ScoringBatchSize = 4, Tokenizer = MambaTokenizerKind.Bytes,
        };
        using var transformer = new MambaTransformer(settings, new MambaForSequenceClassification(TinyConfig(), 1),
            new MambaTokenizerSource(MambaTokenizerKind.Bytes), MambaDevice.ForInference(), null);
        var stream = new MemoryStream();
        ml.Model.Save(transformer, ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "a" } }).Schema, stream);
        return stream.ToArray();
    });

    private static readonly Lazy<byte[]> s_languageModel = new(() =>
    {
        var ml = new MLContext(seed: 1);
        using var transformer = new MambaLanguageModelTransformer(new MambaForCausalLM(TinyConfig()), new MambaTokenizerSource(MambaTokenizerKind.Bytes),
            "Prompt", "GeneratedText", SamplingOptions.Greedy(4), null, null);
        var stream = new MemoryStream();
        ml.Model.Save(transformer, ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "a" } }).Schema, stream);
        return stream.ToArray();
    });

    /// <summary>A valid binary-classifier model zip (byte tokenizer, tiny network).</summary>
    public static byte[] ClassifierZip => s_classifier.Value;

    /// <summary>A valid language-model zip (byte tokenizer, tiny network).</summary>
    public static byte[] LanguageModelZip => s_languageModel.Value;

    /// <summary>config.json and model.safetensors of a tiny causal LM, as bytes.</summary>
    public static Dictionary<string, byte[]> TinyCheckpoint(MambaConfig? config = null, int? numLabels = null)
    {
        using var directory = new TempDirectory();
        if (numLabels is int labels)
        {
            using var model = new MambaForSequenceClassification(config ?? TinyConfig(), labels);
            model.SavePretrained(directory.Path);
        }
        else
        {
            using var model = new MambaForCausalLM(config ?? TinyConfig());
            model.SavePretrained(directory.Path);
        }
        return Directory.GetFiles(directory.Path).ToDictionary(path => Path.GetFileName(path), File.ReadAllBytes);
    }

    /// <summary>Loads a model zip the way users do (after registering the loaders).</summary>
    public static ITransformer Load(byte[] zip)
    {
        var ml = new MLContext(seed: 1);
        return MambaModelLoader.Load(ml, new MemoryStream(zip), out _);
    }

    /// <summary>Loads <paramref name="zip"/>, which must fail with an <see cref="InvalidDataException"/>.</summary>
    public static InvalidDataException LoadFails(byte[] zip) =>
        Assert.Throws<InvalidDataException>(() => { using var _ = Load(zip) as IDisposable; });

    public static T Innermost<T>(Exception e) where T : Exception
    {
        T? found = null;
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is T t) found ??= t;
        return found ?? throw new Xunit.Sdk.XunitException($"No {typeof(T).Name} inside {e}");
    }

    /// <summary>The payload (after the Int32 length) of the entry whose name ends with <paramref name="nameEnd"/>.</summary>
    public static byte[] ReadEntry(byte[] zip, string nameEnd)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var entry = archive.Entries.Single(e => e.FullName.EndsWith("/" + nameEnd, StringComparison.Ordinal) || e.FullName == nameEnd);
        using var s = entry.Open();
        var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray()[4..];
    }

    /// <summary>Replaces an entry's payload (a fresh, correct length prefix is written).</summary>
    public static byte[] RewriteEntry(byte[] zip, string nameEnd, Func<byte[], byte[]> change) =>
        RewriteRawEntry(zip, nameEnd, raw => WithLength(change(raw[4..])));

    /// <summary>Replaces an entry's raw bytes, length prefix included.</summary>
    public static byte[] RewriteRawEntry(byte[] zip, string nameEnd, Func<byte[], byte[]> change)
    {
        var copy = new MemoryStream();
        copy.Write(zip);
        using (var archive = new ZipArchive(copy, ZipArchiveMode.Update, leaveOpen: true))
        {
            var entry = archive.Entries.Single(e => e.FullName.EndsWith("/" + nameEnd, StringComparison.Ordinal));
            byte[] old;
            using (var s = entry.Open()) { var m = new MemoryStream(); s.CopyTo(m); old = m.ToArray(); }
            string name = entry.FullName;
            entry.Delete();
            using var w = archive.CreateEntry(name, CompressionLevel.Fastest).Open();
            w.Write(change(old));
        }
        return copy.ToArray();
    }

    /// <summary>Adds an entry next to <paramref name="besideEntry"/> (same folder), written by <paramref name="write"/>.</summary>
    public static byte[] AddEntry(byte[] zip, string besideEntry, string name, Action<Stream> write)
    {
        var copy = new MemoryStream();
        copy.Write(zip);
        using (var archive = new ZipArchive(copy, ZipArchiveMode.Update, leaveOpen: true))
        {
            var beside = archive.Entries.Single(e => e.FullName.EndsWith("/" + besideEntry, StringComparison.Ordinal));
            string folder = beside.FullName[..^besideEntry.Length];
            using var w = archive.CreateEntry(folder + name, CompressionLevel.Fastest).Open();
            write(w);
        }
        return copy.ToArray();
    }

    public static byte[] AddEntry(byte[] zip, string besideEntry, string name, byte[] payload) =>
        AddEntry(zip, besideEntry, name, s => s.Write(WithLength(payload)));

    /// <summary>Edits the settings JSON of a zip (<paramref name="entry"/> is the settings entry's name).</summary>
    public static byte[] EditSettings(byte[] zip, string entry, Action<JsonObject> edit) =>
        RewriteEntry(zip, entry, old =>
        {
            var node = JsonNode.Parse(old)!.AsObject();
            edit(node);
            return Encoding.UTF8.GetBytes(node.ToJsonString());
        });

    public static byte[] WithLength(byte[] payload)
    {
        var result = new byte[payload.Length + 4];
        BitConverter.GetBytes(payload.Length).CopyTo(result, 0);
        payload.CopyTo(result, 4);
        return result;
    }

    /// <summary>A safetensors file with the given header JSON (UTF-8 bytes) and <paramref name="dataBytes"/> zero bytes of data.</summary>
    public static byte[] SafeTensors(byte[] header, int dataBytes)
    {
        var result = new byte[8 + header.Length + dataBytes];
        BitConverter.GetBytes((ulong)header.Length).CopyTo(result, 0);
        header.CopyTo(result, 8);
        return result;
    }

    public static byte[] SafeTensors(string header, int dataBytes) => SafeTensors(Encoding.UTF8.GetBytes(header), dataBytes);

    /// <summary>Loads a checkpoint held in memory the way the zip loader does.</summary>
    public static void LoadCheckpoint(Dictionary<string, byte[]> files)
    {
        using var model = MambaForCausalLM.FromPretrained(CheckpointFiles.FromMemory(files, "test files"));
    }

    /// <summary>Entries in the temp folder that loading code could have left behind.</summary>
    public static HashSet<string> LoaderTempEntries() =>
        Directory.EnumerateFileSystemEntries(Path.GetTempPath())
            .Select(Path.GetFileName)
            .Where(n => n!.StartsWith("mamba-load-", StringComparison.Ordinal) || n.StartsWith("mamba-tokenizer-", StringComparison.Ordinal))
            .ToHashSet()!;
}
