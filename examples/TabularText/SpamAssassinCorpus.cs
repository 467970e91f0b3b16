using System.Text.RegularExpressions;

namespace Microsoft.ML.Mamba.Examples.TabularText;

/// <summary>Reads the raw SpamAssassin e-mails into <see cref="EmailRow"/>s.</summary>
public static partial class SpamAssassinCorpus
{
    private static readonly string[] HamGroups = ["easy-ham-1", "easy-ham-2", "hard-ham-1"];
    private static readonly string[] SpamGroups = ["spam-1", "spam-2"];

    /// <summary>A seeded sample of <paramref name="perClass"/> ham and as many spam e-mails, shuffled.</summary>
    public static List<EmailRow> Load(string dataDirectory, int perClass, int seed)
    {
        var random = new Random(seed);
        List<string> Files(string[] groups) => groups.SelectMany(g => Directory.GetFiles(Path.Combine(dataDirectory, g), "*.txt")).Order(StringComparer.Ordinal).ToList();
        var ham = Files(HamGroups);
        var spam = Files(SpamGroups);
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ham));
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(spam));
        var rows = ham.Take(perClass).Select(f => Parse(File.ReadAllText(f), false))
            .Concat(spam.Take(perClass).Select(f => Parse(File.ReadAllText(f), true))).ToList();
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rows));
        return rows;
    }

    /// <summary>Splits headers from the body and derives the row's columns.</summary>
    public static EmailRow Parse(string raw, bool isSpam)
    {
        raw = raw.Replace("\r\n", "\n");
        int split = raw.IndexOf("\n\n", StringComparison.Ordinal);
        string headers = split < 0 ? raw : raw[..split], body = split < 0 ? "" : raw[(split + 2)..];
        string Header(string name)
        {
            var m = Regex.Match(headers, $@"^{name}:[ \t]*(.*(?:\n[ \t].*)*)", RegexOptions.Multiline | RegexOptions.IgnoreCase);
            return m.Success ? Regex.Replace(m.Groups[1].Value, @"\s+", " ").Trim() : "";
        }
        bool html = Regex.IsMatch(body, "<html|<body|<table|<font", RegexOptions.IgnoreCase);
        string text = Tags().Replace(body, " ");
        text = Regex.Replace(text.Replace("=\n", ""), @"=[0-9A-F]{2}", " "); // quoted-printable leftovers
        text = Regex.Replace(text, @"\s+", " ").Trim();
        return new EmailRow
        {
            // Mailing-list tags such as [SAdev] would give ham away; they are not part of what the sender wrote.
            Subject = Regex.Replace(ListTags().Replace(Header("Subject"), " "), @"\s+", " ").Trim(),
            Body = text.Length > 2000 ? text[..2000] : text,
            ContentType = Header("Content-Type").Split(';')[0].Trim().ToLowerInvariant() is { Length: > 0 } type ? type : "none",
            HasHtml = html,
            LinkCount = Regex.Matches(body, @"https?://", RegexOptions.IgnoreCase).Count,
            BodyLength = body.Length,
            IsSpam = isSpam,
        };
    }

    [GeneratedRegex(@"\[[^\]]{1,40}\]")]
    private static partial Regex ListTags();

    [GeneratedRegex(@"<[^>]{0,500}>")]
    private static partial Regex Tags();
}
