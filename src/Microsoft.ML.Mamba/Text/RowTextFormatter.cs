using System.Globalization;
using System.Text;

namespace Microsoft.ML.Mamba.Text;

/// <summary>
/// Writes the fields of one tabular row as one text, so that a sequence model can read a whole row.
/// A row with a single text field and nothing else is passed through unchanged (a pretrained model then
/// sees ordinary prose); otherwise every field becomes a <c>name: value</c> line.
/// </summary>
/// <remarks>
/// Values are written with the invariant culture. Missing numbers (NaN) are written as <c>missing</c>,
/// booleans as <c>true</c>/<c>false</c>, and empty or whitespace-only text fields are left out.
/// </remarks>
public sealed class RowTextFormatter
{
    /// <summary>The word written for a missing (NaN) number.</summary>
    public const string MissingValue = "missing";

    /// <summary>Creates a formatter for rows whose fields have the given names, in this order.</summary>
    /// <param name="fieldNames">The names written before each value.</param>
    /// <param name="passSingleTextThrough">When the row has one field, write its value alone.</param>
    public RowTextFormatter(IReadOnlyList<string> fieldNames, bool passSingleTextThrough = true)
    {
        ArgumentNullException.ThrowIfNull(fieldNames);
        if (fieldNames.Count == 0) throw new ArgumentException("A row needs at least one field.", nameof(fieldNames));
        FieldNames = fieldNames.ToArray();
        PassSingleTextThrough = passSingleTextThrough;
    }

    /// <summary>The field names, in the order they are written.</summary>
    public IReadOnlyList<string> FieldNames { get; }

    /// <summary>Whether a one-field row is written as its bare value.</summary>
    public bool PassSingleTextThrough { get; }

    /// <summary>Writes one row; <paramref name="values"/> holds one value per field name (null means absent).</summary>
    public string Format(IReadOnlyList<object?> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count != FieldNames.Count)
            throw new ArgumentException($"Expected {FieldNames.Count} values, got {values.Count}.", nameof(values));
        if (FieldNames.Count == 1 && PassSingleTextThrough)
            return FormatValue(values[0]) ?? string.Empty;

        var text = new StringBuilder();
        for (int i = 0; i < values.Count; i++)
        {
            string? value = FormatValue(values[i]);
            if (value is null) continue;
            if (text.Length > 0) text.Append('\n');
            text.Append(FieldNames[i]).Append(": ").Append(value);
        }
        return text.ToString();
    }

    /// <summary>Writes one value, or returns null when there is nothing to write (empty text).</summary>
    internal static string? FormatValue(object? value) => value switch
    {
        null => null,
        string s => string.IsNullOrWhiteSpace(s) ? null : s.Trim(),
        ReadOnlyMemory<char> m => FormatValue(m.ToString()),
        bool b => b ? "true" : "false",
        float f => float.IsNaN(f) ? MissingValue : f.ToString("G7", CultureInfo.InvariantCulture),
        double d => double.IsNaN(d) ? MissingValue : d.ToString("G10", CultureInfo.InvariantCulture),
        IFormattable n => n.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
