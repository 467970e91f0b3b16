using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using static Microsoft.ML.Mamba.Tests.Security.HostileFiles;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>
/// Seeded mutation loops over a valid config.json, safetensors file and model zip: every outcome must be a
/// successful load or one of the documented exception types, with memory and temp disk bounded.
/// </summary>
[Collection(nameof(ProcessWideMeasurements))]
public partial class FuzzLoadingTests
{
    private const int Seed = 20261207;

    [Fact]
    public void MutatedCheckpointsLoadOrFailWithDocumentedExceptions()
    {
        var valid = TinyCheckpoint();
        var random = new Random(Seed);
        var outcomes = new Dictionary<string, int>();
        Bounded(() =>
        {
            for (int i = 0; i < 700; i++)
            {
                var files = new Dictionary<string, byte[]>(valid);
                string target = random.Next(2) == 0 ? "config.json" : "model.safetensors";
                files[target] = Mutate(files[target], random);
                string outcome = Outcome(() => LoadCheckpoint(files),
                    typeof(MambaCheckpointException), typeof(InvalidDataException), typeof(FileNotFoundException));
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        });
        Assert.True(outcomes.GetValueOrDefault("success") > 0, string.Join(", ", outcomes));
        Assert.True(outcomes.Count > 2, string.Join(", ", outcomes));
    }

    [Fact]
    public void MutatedModelZipsLoadOrFailWithInvalidData()
    {
        var valid = ClassifierZip;
        string[] entries = [SettingsEntry, "Mamba.Network.config.json", "Mamba.Network.model.safetensors"];
        var payloads = entries.ToDictionary(e => e, e => ReadEntry(valid, e));
        var random = new Random(Seed);
        var outcomes = new Dictionary<string, int>();
        Bounded(() =>
        {
            for (int i = 0; i < 150; i++)
            {
                string entry = entries[random.Next(entries.Length)];
                var mutated = Mutate(payloads[entry], random);
                // Sometimes the length prefix lies too.
                byte[] zip = random.Next(4) == 0
                    ? RewriteRawEntry(valid, entry, _ => [.. BitConverter.GetBytes(random.Next(-10, int.MaxValue)), .. mutated])
                    : RewriteEntry(valid, entry, _ => mutated);
                string outcome;
                try
                {
                    using (Load(zip) as IDisposable) { }
                    outcome = "success";
                }
                catch (Exception e)
                {
                    // MambaModelLoader.Load unwraps ML.NET's TargetInvocationException.
                    outcome = e is InvalidDataException ? e.GetType().Name : throw new Xunit.Sdk.XunitException($"Undocumented exception {e}");
                }
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        });
        Assert.True(outcomes.GetValueOrDefault("success") > 0, string.Join(", ", outcomes));
    }

    [Fact]
    public void MutatedZipBytesFailWithInvalidDataOrFormatException()
    {
        // Raw damage to the zip itself: ML.NET reports a file it cannot open as FormatException, the rest is ours.
        var valid = ClassifierZip;
        var random = new Random(Seed);
        Bounded(() =>
        {
            for (int i = 0; i < 60; i++)
            {
                var zip = Mutate(valid, random);
                try { using (Load(zip) as IDisposable) { } }
                catch (Exception e) when (e is InvalidDataException or FormatException) { }
            }
        });
    }

    [Fact]
    public void MutatedConfigsParseOrFailWithInvalidData()
    {
        var valid = Encoding.UTF8.GetBytes(HostileFiles.TinyConfig().ToJson());
        var ssm = Encoding.UTF8.GetBytes("""{"d_model": 8, "n_layer": 1, "vocab_size": 250, "pad_vocab_size_multiple": 8, "ssm_cfg": {"d_state": 2, "d_conv": 2, "expand": 2, "dt_rank": "auto"}, "tie_embeddings": true}""");
        var random = new Random(Seed);
        int parsed = 0;
        for (int i = 0; i < 10000; i++)
        {
            var bytes = Mutate(random.Next(2) == 0 ? valid : ssm, random);
            string outcome = Outcome(() => MambaConfig.FromBytes(bytes, "config.json"), typeof(InvalidDataException));
            if (outcome == "success") parsed++;
        }
        Assert.True(parsed > 0);
    }

    // Runs a loop and checks it leaves no temp folders of the loaders and keeps managed memory bounded.
    private static void Bounded(Action loop)
    {
        var temp = LoaderTempEntries();
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        long process = Process.GetCurrentProcess().PrivateMemorySize64;
        var watch = Stopwatch.StartNew();
        loop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"the loop took {watch.Elapsed}");
        Assert.Empty(LoaderTempEntries().Except(temp));
        Assert.True(GC.GetTotalMemory(forceFullCollection: true) - managed < 256L << 20, "managed memory grew by more than 256 MB");
        // Generous: other tests run in parallel in the same process; a leaked model per case would exceed it.
        Assert.True(Process.GetCurrentProcess().PrivateMemorySize64 - process < 2L << 30, "process memory grew by more than 2 GB");
    }

    private static string Outcome(Action load, params Type[] documented)
    {
        try
        {
            load();
            return "success";
        }
        catch (Exception e) when (documented.Contains(e.GetType()))
        {
            return e.GetType().Name;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"Undocumented exception {e.GetType().Name}: {e}");
        }
    }

    /// <summary>One random mutation: bit flips, truncation, inserted or deleted bytes, or a number swapped for an edge value.</summary>
    internal static byte[] Mutate(byte[] input, Random random)
    {
        var bytes = (byte[])input.Clone();
        switch (random.Next(6))
        {
            case 0:
                for (int n = random.Next(1, 4); n > 0; n--) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1:
                return bytes[..random.Next(bytes.Length)];
            case 2:
            {
                int at = random.Next(bytes.Length);
                return [.. bytes[..at], (byte)random.Next(256), .. bytes[at..]];
            }
            case 3:
            {
                int at = random.Next(bytes.Length), length = Math.Min(random.Next(1, 16), bytes.Length - at);
                return [.. bytes[..at], .. bytes[(at + length)..]];
            }
            case 4:
            {
                // The same number, shape or size made extreme (field swap on the JSON text, header included).
                string text = Encoding.Latin1.GetString(bytes);
                var numbers = Number().Matches(text);
                if (numbers.Count == 0) return bytes;
                var match = numbers[random.Next(numbers.Count)];
                string[] edges = ["0", "-1", "1", "2147483647", "2147483648", "-2147483648", "9223372036854775807", "1e300", "\"x\"", "null", "[]", "{}", "65536", "1024"];
                return Encoding.Latin1.GetBytes(text[..match.Index] + edges[random.Next(edges.Length)] + text[(match.Index + match.Length)..]);
            }
            default:
            {
                // Swap two numbers (for example two dimensions of a shape, or two sizes of the config).
                string text = Encoding.Latin1.GetString(bytes);
                var numbers = Number().Matches(text);
                if (numbers.Count < 2) return bytes;
                var a = numbers[random.Next(numbers.Count)];
                var b = numbers[random.Next(numbers.Count)];
                if (a.Index == b.Index) return bytes;
                if (a.Index > b.Index) (a, b) = (b, a);
                return Encoding.Latin1.GetBytes(text[..a.Index] + b.Value + text[(a.Index + a.Length)..b.Index] + a.Value + text[(b.Index + b.Length)..]);
            }
        }
    }

    [GeneratedRegex(@"-?\d+(\.\d+)?(e-?\d+)?")]
    private static partial Regex Number();
}
