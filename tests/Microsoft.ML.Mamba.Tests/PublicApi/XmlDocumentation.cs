using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Microsoft.ML.Mamba.Tests.PublicApi;

/// <summary>The compiler's XML documentation file of an assembly (GenerateDocumentationFile), read by member id.</summary>
internal sealed partial class XmlDocumentation
{
    private readonly Dictionary<string, XElement> _members;

    public XmlDocumentation(IEnumerable<XElement> members) =>
        _members = members.GroupBy(m => (string?)m.Attribute("name") ?? "").ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    /// <summary>Reads the file the build puts next to <paramref name="assembly"/>.</summary>
    public static XmlDocumentation For(Assembly assembly)
    {
        string path = Path.ChangeExtension(assembly.Location, ".xml");
        if (!File.Exists(path))
            throw new FileNotFoundException($"No documentation file {path}: is GenerateDocumentationFile on in the library's project?", path);
        return new XmlDocumentation(XDocument.Load(path).Descendants("member"));
    }

    /// <summary>Whether the id has a doc comment with something in it (a summary, an inheritdoc, parameters).</summary>
    public bool Documents(string id) => _members.TryGetValue(id, out var member) && (member.HasElements || member.Value.Trim().Length > 0);

    /// <summary>The type's or member's summary as one line of markdown-free text, or null.</summary>
    public string? Summary(string id)
    {
        if (!_members.TryGetValue(id, out var member) || member.Element("summary") is not { } summary) return null;
        var text = new StringBuilder();
        Append(summary, text);
        string line = Whitespace().Replace(text.ToString(), " ").Trim();
        return line.Length == 0 ? null : line;
    }

    private static void Append(XElement element, StringBuilder text)
    {
        foreach (var node in element.Nodes())
        {
            switch (node)
            {
                case XText t: text.Append(t.Value); break;
                case XElement { Name.LocalName: "see" or "seealso" } see:
                    text.Append(see.Attribute("cref") is { } cref ? ShortName(cref.Value)
                        : see.Attribute("langword")?.Value ?? see.Attribute("href")?.Value ?? see.Value);
                    break;
                case XElement { Name.LocalName: "c" or "code" } code: text.Append('`').Append(code.Value.Trim()).Append('`'); break;
                case XElement { Name.LocalName: "paramref" or "typeparamref" } reference: text.Append(reference.Attribute("name")?.Value); break;
                case XElement { Name.LocalName: "para" or "br" } paragraph: text.Append(' '); Append(paragraph, text); text.Append(' '); break;
                case XElement other: Append(other, text); break;
            }
        }
    }

    // "M:Ns.Type.Method(System.Int32)" reads as "Type.Method"; "T:Ns.Type" as "Type".
    private static string ShortName(string cref)
    {
        string name = cref.Length > 2 && cref[1] == ':' ? cref[2..] : cref;
        int parenthesis = name.IndexOf('(');
        if (parenthesis >= 0) name = name[..parenthesis];
        name = Arity().Replace(name, "");
        var parts = name.Split('.');
        return cref.StartsWith("T:", StringComparison.Ordinal) || parts.Length < 2 ? parts[^1] : parts[^2] + "." + parts[^1];
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"`+\d+")]
    private static partial Regex Arity();
}
