using System.Globalization;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Minimal "--name value" / "--name=value" parsing for the examples. Every flag read is remembered with its
/// default so <see cref="Usage"/> can list them, and <see cref="RejectUnknown"/> catches typos. Switches (flags
/// without a value, such as --resume) must be named to the constructor so the parser knows not to expect a value.
/// </summary>
public sealed class CommandLineFlags
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Name, string Default, string Help)> _known = new();

    public bool HelpRequested { get; }

    /// <param name="args">The command line.</param>
    /// <param name="switches">Names (without "--") of the flags that take no value: "--name" alone means true,
    /// "--name=false" false. Read them with <see cref="Switch"/>.</param>
    public CommandLineFlags(IReadOnlyList<string> args, IEnumerable<string>? switches = null)
    {
        var switchNames = new HashSet<string>(switches ?? Array.Empty<string>(), StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg is "-h" or "--help") { HelpRequested = true; continue; }
            if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{arg}' (flags look like --name value)");
            int eq = arg.IndexOf('=');
            if (eq > 0) _values[arg[2..eq]] = arg[(eq + 1)..];
            else if (switchNames.Contains(arg[2..])) _values[arg[2..]] = "true";
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) _values[arg[2..]] = args[++i];
            else throw new ArgumentException($"flag '{arg}' needs a value");
        }
    }

    public string String(string name, string defaultValue, string help)
    {
        _known.Add((name, defaultValue, help));
        return _values.TryGetValue(name, out var v) ? v : defaultValue;
    }

    public int Int(string name, int defaultValue, string help)
    {
        string text = String(name, defaultValue.ToString(CultureInfo.InvariantCulture), help);
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v : throw new ArgumentException($"--{name} expects an integer, got '{text}'");
    }

    public double Double(string name, double defaultValue, string help)
    {
        string text = String(name, defaultValue.ToString("R", CultureInfo.InvariantCulture), help);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v : throw new ArgumentException($"--{name} expects a number, got '{text}'");
    }

    /// <summary>A number that may be left out: null when it is (or is given as "none"); --help shows its default as "none".</summary>
    public double? OptionalDouble(string name, string help)
    {
        string text = String(name, "none", help);
        if (string.Equals(text, "none", StringComparison.OrdinalIgnoreCase)) return null;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v : throw new ArgumentException($"--{name} expects a number, got '{text}'");
    }

    /// <summary>An integer that may be left out, like <see cref="OptionalDouble"/>.</summary>
    public int? OptionalInt(string name, string help)
    {
        string text = String(name, "none", help);
        if (string.Equals(text, "none", StringComparison.OrdinalIgnoreCase)) return null;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v : throw new ArgumentException($"--{name} expects an integer, got '{text}'");
    }

    /// <summary>A flag without a value (named to the constructor as a switch): true when given; --help shows "off".</summary>
    public bool Switch(string name, string help)
    {
        string text = String(name, "off", help);
        if (string.Equals(text, "off", StringComparison.OrdinalIgnoreCase)) return false;
        return bool.TryParse(text, out bool v) ? v : throw new ArgumentException($"--{name} takes no value (or =true / =false), got '{text}'");
    }

    /// <summary>Throws if a flag was given that no call above asked for.</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_known.Any(f => string.Equals(f.Name, k, StringComparison.OrdinalIgnoreCase))).ToArray();
        if (unknown.Length > 0) throw new ArgumentException($"unknown flag(s): {string.Join(", ", unknown.Select(u => "--" + u))}; see --help");
    }

    public string Usage() => string.Join(Environment.NewLine,
        _known.Select(f => $"  --{f.Name,-22} {f.Help} (default: {f.Default})"));
}
