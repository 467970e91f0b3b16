using System.Globalization;

namespace Microsoft.ML.Mamba.Examples.Pretraining;

/// <summary>The command line as --name value pairs (a name may repeat) and bare --switches; unknown names are an error.</summary>
internal sealed class Flags
{
    private static readonly HashSet<string> Switches = ["--resume"];
    private static readonly HashSet<string> Known =
    [
        "--corpus", "--tokenizer", "--hidden", "--layers", "--state", "--block", "--batch", "--lr", "--steps", "--warmup",
        "--time-limit-minutes", "--device", "--dtype", "--out", "--resume", "--eval-every", "--eval-tokens", "--checkpoint-every",
        "--heldout", "--seed", "--workers", "--threads", "--architecture", "--head-dim",
    ];
    private readonly List<(string Name, string? Value)> _pairs = [];

    public static Flags Parse(string[] args)
    {
        var flags = new Flags();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (!Known.Contains(name)) throw new ArgumentException($"Unknown option '{name}'. Options: {string.Join(' ', Known)}");
            if (Switches.Contains(name)) { flags._pairs.Add((name, null)); continue; }
            if (i + 1 >= args.Length) throw new ArgumentException($"Option '{name}' needs a value.");
            flags._pairs.Add((name, args[++i]));
        }
        return flags;
    }

    public bool Has(string name) => _pairs.Any(p => p.Name == name);

    public List<string> All(string name) => _pairs.Where(p => p.Name == name).Select(p => p.Value!).ToList();

    public string String(string name, string fallback) => _pairs.LastOrDefault(p => p.Name == name).Value ?? fallback;

    public int Int(string name, int fallback) => Parse(name, fallback, s => int.Parse(s, CultureInfo.InvariantCulture));

    public double Double(string name, double fallback) => Parse(name, fallback, s => double.Parse(s, CultureInfo.InvariantCulture));

    private T Parse<T>(string name, T fallback, Func<string, T> parse)
    {
        string? value = _pairs.LastOrDefault(p => p.Name == name).Value;
        if (value is null) return fallback;
        try
        {
            return parse(value);
        }
        catch (FormatException)
        {
            throw new ArgumentException($"Option '{name}' needs a number, not '{value}'.");
        }
    }
}
