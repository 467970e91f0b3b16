using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using static Microsoft.ML.Mamba.Tests.Security.HostileFiles;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>Tampered model zips: loading refuses them with an InvalidDataException and never touches the disk.</summary>
public class ZipLoadingTests
{
    public static TheoryData<string, string> Targets => new()
    {
        { SettingsEntry, "NetworkFiles" }, { SettingsEntry, "TokenizerFiles" },
        { LanguageModelSettingsEntry, "NetworkFiles" }, { LanguageModelSettingsEntry, "TokenizerFiles" },
    };

    private static byte[] ZipFor(string settingsEntry) => settingsEntry == SettingsEntry ? ClassifierZip : LanguageModelZip;

    private static string PrefixFor(string field) => field == "NetworkFiles" ? ModelZipEntries.NetworkPrefix : ModelZipEntries.TokenizerPrefix;

    [Theory]
    [MemberData(nameof(Targets))]
    public void AnAbsoluteFileNameInTheSettingsCannotOverwriteAFile(string settingsEntry, string field)
    {
        using var outside = new TempDirectory();
        string victim = outside.File("victim.txt");
        File.WriteAllText(victim, "untouched");
        var zip = EditSettings(ZipFor(settingsEntry), settingsEntry, s =>
        {
            var names = s[field]!.AsArray();
            names.Add(victim);
            if (field == "TokenizerFiles") s["Tokenizer"] = "HuggingFace";
        });
        zip = AddEntry(zip, settingsEntry, PrefixFor(field) + victim, "overwritten"u8.ToArray());

        var error = LoadFails(zip);
        Assert.Contains(victim, error.Message);
        Assert.Equal("untouched", File.ReadAllText(victim));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void ADotDotFileNameInTheSettingsIsRefused(string settingsEntry, string field)
    {
        string name = "../" + Guid.NewGuid().ToString("N") + ".txt";
        var zip = EditSettings(ZipFor(settingsEntry), settingsEntry, s =>
        {
            s[field]!.AsArray().Add(name);
            if (field == "TokenizerFiles") s["Tokenizer"] = "HuggingFace";
        });
        zip = AddEntry(zip, settingsEntry, PrefixFor(field) + name, "x"u8.ToArray());

        Assert.Contains(name, LoadFails(zip).Message);
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), name[3..])));
    }

    [Theory]
    [InlineData("evil.dll")]
    [InlineData("config.json\0")]
    [InlineData("C:\\\\evil.txt")]
    public void ATokenizerFileNameOutsideTheAllowListIsRefused(string name)
    {
        var zip = EditSettings(ClassifierZip, SettingsEntry, s =>
        {
            s["TokenizerFiles"] = new JsonArray(name);
            s["Tokenizer"] = "HuggingFace";
        });
        zip = AddEntry(zip, SettingsEntry, ModelZipEntries.TokenizerPrefix + "evil.dll", "x"u8.ToArray());
        Assert.Contains("not an allowed file name", LoadFails(zip).Message);
    }

    [Fact]
    public void AValidZipLoadsEntirelyInMemory()
    {
        var before = LoaderTempEntries();
        using (var loaded = (MambaTransformer)Load(ClassifierZip)) Assert.Equal(MambaTask.BinaryClassification, loaded.Task);
        using (var lm = (MambaLanguageModelTransformer)Load(LanguageModelZip)) Assert.Equal(4, lm.Sampling.MaxNewTokens);
        Assert.Empty(LoaderTempEntries().Except(before));
    }

    [Fact]
    public void AHugeDeclaredLengthIsRefusedBeforeAnythingIsAllocated()
    {
        var zip = RewriteRawEntry(ClassifierZip, SettingsEntry, old => [.. BitConverter.GetBytes(int.MaxValue), .. old[4..]]);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var error = LoadFails(zip);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 64 << 20, "the declared 2 GB were allocated");
        Assert.Contains("limit", error.Message);
    }

    [Fact]
    public void ALengthLargerThanTheEntryIsTruncationNotAnAllocation()
    {
        // Within the limit for weights, but the entry holds a few bytes: read in chunks, it fails as truncated.
        var zip = RewriteRawEntry(ClassifierZip, "Mamba.Network.model.safetensors", old => [.. BitConverter.GetBytes(old.Length + 1000), .. old[4..]]);
        Assert.Contains("truncated", LoadFails(zip).Message);
    }

    [Fact]
    public void ACompressionBombInPlaceOfTheWeightsIsRefusedUnread()
    {
        // 64 MB of zeros compress to a few hundred kilobytes; a tiny config's weights need a few kilobytes.
        const int size = 64 << 20;
        var zip = RewriteRawEntry(ClassifierZip, "Mamba.Network.model.safetensors", _ =>
        {
            var bytes = new byte[size + 4];
            BitConverter.GetBytes(size).CopyTo(bytes, 0);
            return bytes;
        });
        Assert.True(zip.Length < 1 << 20);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var error = LoadFails(zip);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 32 << 20, "the bomb was read");
        Assert.Contains("limit", error.Message);
    }

    [Theory]
    [InlineData("ScoringBatchSize", 0)]
    [InlineData("MaxSequenceLength", -5)]
    [InlineData("NumberOfClasses", 2)]
    [InlineData("Task", 7)]
    [InlineData("Pooling", 9)]
    [InlineData("FormatVersion", 0)]
    public void InvalidClassifierSettingsAreRefusedAtLoad(string setting, int value)
    {
        var zip = EditSettings(ClassifierZip, SettingsEntry, s => s[setting] = value);
        Assert.Contains(setting, LoadFails(zip).Message);
    }

    [Fact]
    public void NullSettingsArraysAreInvalidDataNotNullReferences()
    {
        foreach (var field in new[] { "NetworkFiles", "TokenizerFiles", "TextColumnNames" })
            LoadFails(EditSettings(ClassifierZip, SettingsEntry, s => s[field] = null));
        LoadFails(EditSettings(LanguageModelZip, LanguageModelSettingsEntry, s => s["Sampling"] = null));
    }

    [Theory]
    [InlineData("MaxNewTokens", 2_000_000_000)]
    [InlineData("MaxNewTokens", -1)]
    [InlineData("TopK", -3)]
    public void InvalidSamplingSettingsAreRefusedAtLoad(string setting, int value)
    {
        var zip = EditSettings(LanguageModelZip, LanguageModelSettingsEntry, s => s["Sampling"]![setting] = value);
        Assert.Contains(setting, LoadFails(zip).Message);
    }

    [Theory]
    [InlineData(SettingsEntry)]
    [InlineData(LanguageModelSettingsEntry)]
    public void ATokenizerLargerThanTheNetworksVocabularyIsRefusedAtLoad(string settingsEntry)
    {
        // A network with 100 embeddings beside the 259-token byte tokenizer.
        var network = settingsEntry == SettingsEntry ? TinyCheckpoint(TinyConfig(vocab: 100), numLabels: 1) : TinyCheckpoint(TinyConfig(vocab: 100));
        var zip = ZipFor(settingsEntry);
        foreach (var (name, bytes) in network)
            zip = RewriteEntry(zip, ModelZipEntries.NetworkPrefix + name, _ => bytes);
        var error = LoadFails(zip);
        Assert.Contains("259", error.Message);
        Assert.Contains("100", error.Message);
    }

    [Fact]
    public void WeightsThatDoNotMatchTheHeadAreRefused()
    {
        // A 3-class head in a zip whose settings say binary.
        var zip = ClassifierZip;
        foreach (var (name, bytes) in TinyCheckpoint(numLabels: 3))
            zip = RewriteEntry(zip, ModelZipEntries.NetworkPrefix + name, _ => bytes);
        Assert.Contains("score.weight", LoadFails(zip).Message);
    }
}
