using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// A checked label column: which task reads it, how many outputs the head needs and the class names (the key's
/// values as text, when it has them). The task object decides what a valid label is and how to read it.
/// </summary>
internal sealed class LabelInfo
{
    public LabelInfo(string columnName, SequenceTask task, int numberOfOutputs, string[]? classNames)
    {
        ColumnName = columnName; Task = task; NumberOfOutputs = numberOfOutputs; ClassNames = classNames;
    }

    public string ColumnName { get; }
    public SequenceTask Task { get; }
    /// <summary>Classes for multiclass; 1 otherwise.</summary>
    public int NumberOfOutputs { get; }
    /// <summary>The key's values as text, when the key has them.</summary>
    public string[]? ClassNames { get; }

    /// <summary>Finds and checks the label column; throws <see cref="ArgumentOutOfRangeException"/> naming it.</summary>
    public static LabelInfo Read(DataViewSchema schema, string name, SequenceTask task)
    {
        var found = schema.GetColumnOrNull(name);
        if (found is null || found.Value.IsHidden)
            throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{name}' is not in the data.");
        return task.DescribeLabel(found.Value);
    }

    /// <summary>A reader of the current row's training target (NaN = missing label).</summary>
    public Func<float> MakeReader(DataViewRow row) => Task.MakeLabelReader(row, this);

    /// <summary>Whether <paramref name="other"/> numbers its classes the same way (same count and, where both have them, same names in the same order).</summary>
    public bool SameClassesAs(LabelInfo other) =>
        NumberOfOutputs == other.NumberOfOutputs &&
        (ClassNames is null || other.ClassNames is null || ClassNames.SequenceEqual(other.ClassNames, StringComparer.Ordinal));

    /// <summary>A key column's values as text, or null when it has none (or of a type not shown as text).</summary>
    public static string[]? ReadKeyValues(DataViewSchema.Column column, int count)
    {
        var kv = column.Annotations.Schema.GetColumnOrNull("KeyValues");
        if (kv is null || kv.Value.Type is not VectorDataViewType { Size: var size } vector || size != count) return null;
        var raw = vector.ItemType.RawType;
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        if (raw == typeof(ReadOnlyMemory<char>)) return Values<ReadOnlyMemory<char>>(column, v => v.ToString());
        if (raw == typeof(float)) return Values<float>(column, v => v.ToString(invariant));
        if (raw == typeof(double)) return Values<double>(column, v => v.ToString(invariant));
        if (raw == typeof(int)) return Values<int>(column, v => v.ToString(invariant));
        if (raw == typeof(long)) return Values<long>(column, v => v.ToString(invariant));
        if (raw == typeof(uint)) return Values<uint>(column, v => v.ToString(invariant));
        if (raw == typeof(bool)) return Values<bool>(column, v => v ? "true" : "false");
        return null;
    }

    private static string[] Values<T>(DataViewSchema.Column column, Func<T, string> text)
    {
        VBuffer<T> values = default;
        column.GetKeyValues(ref values);
        return values.DenseValues().Select(text).ToArray();
    }
}
