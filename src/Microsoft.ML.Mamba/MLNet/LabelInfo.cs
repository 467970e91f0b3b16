using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Checks the label column for a task and reads it as a training target (class index, 0/1 or value; NaN = missing).</summary>
internal sealed class LabelInfo
{
    private LabelInfo(string columnName, MambaTask task, int numberOfOutputs, string[]? classNames)
    {
        ColumnName = columnName; Task = task; NumberOfOutputs = numberOfOutputs; ClassNames = classNames;
    }

    public string ColumnName { get; }
    public MambaTask Task { get; }
    /// <summary>Classes for multiclass; 1 otherwise.</summary>
    public int NumberOfOutputs { get; }
    /// <summary>The key's values as text, when the key has them.</summary>
    public string[]? ClassNames { get; }

    public static LabelInfo Read(DataViewSchema schema, string name, MambaTask task)
    {
        var found = schema.GetColumnOrNull(name);
        if (found is null || found.Value.IsHidden)
            throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{name}' is not in the data.");
        var column = found.Value;
        switch (task)
        {
            case MambaTask.MulticlassClassification:
                if (column.Type is not KeyDataViewType key)
                    throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{name}' must be a key for multiclass classification (use mlContext.Transforms.Conversion.MapValueToKey), but holds {column.Type}.");
                if (key.Count < 2 || key.Count > int.MaxValue)
                    throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{name}' must be a key with a known count of at least 2 classes, but has {key.Count}.");
                return new LabelInfo(name, task, (int)key.Count, ReadKeyValues(column, (int)key.Count));
            case MambaTask.BinaryClassification:
                if (column.Type is not BooleanDataViewType)
                    throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{name}' must be Boolean for binary classification, but holds {column.Type}.");
                return new LabelInfo(name, task, 1, null);
            default:
                if (column.Type != NumberDataViewType.Single)
                    throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{name}' must be Single for regression, but holds {column.Type}.");
                return new LabelInfo(name, task, 1, null);
        }
    }

    private static string[]? ReadKeyValues(DataViewSchema.Column column, int count)
    {
        var kv = column.Annotations.Schema.GetColumnOrNull("KeyValues");
        if (kv is null || kv.Value.Type is not VectorDataViewType { Size: var size } vector || size != count) return null;
        var raw = vector.ItemType.RawType;
        if (raw == typeof(ReadOnlyMemory<char>)) return Values<ReadOnlyMemory<char>>(column, v => v.ToString());
        if (raw == typeof(float)) return Values<float>(column, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (raw == typeof(double)) return Values<double>(column, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (raw == typeof(int)) return Values<int>(column, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (raw == typeof(long)) return Values<long>(column, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (raw == typeof(uint)) return Values<uint>(column, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (raw == typeof(bool)) return Values<bool>(column, v => v ? "true" : "false");
        return null;
    }

    private static string[] Values<T>(DataViewSchema.Column column, Func<T, string> text)
    {
        VBuffer<T> values = default;
        column.GetKeyValues(ref values);
        return values.DenseValues().Select(text).ToArray();
    }

    public Func<float> MakeReader(DataViewRow row)
    {
        var column = row.Schema[ColumnName];
        switch (Task)
        {
            case MambaTask.MulticlassClassification:
            {
                var raw = column.Type.RawType;
                Func<ulong> key =
                    raw == typeof(uint) ? Key<uint>(row, column, v => v) :
                    raw == typeof(ulong) ? Key<ulong>(row, column, v => v) :
                    raw == typeof(ushort) ? Key<ushort>(row, column, v => v) :
                    Key<byte>(row, column, v => v);
                // Keys are 1-based; 0 is a missing value (for example a label unseen when the key mapping was built).
                return () => { ulong k = key(); return k == 0 || k > (ulong)NumberOfOutputs ? float.NaN : k - 1; };
            }
            case MambaTask.BinaryClassification:
            {
                var get = row.GetGetter<bool>(column);
                bool v = false;
                return () => { get(ref v); return v ? 1f : 0f; };
            }
            default:
            {
                var get = row.GetGetter<float>(column);
                float v = 0;
                return () => { get(ref v); return float.IsFinite(v) ? v : float.NaN; };
            }
        }
    }

    private static Func<ulong> Key<T>(DataViewRow row, DataViewSchema.Column column, Func<T, ulong> widen)
    {
        var get = row.GetGetter<T>(column);
        T v = default!;
        return () => { get(ref v); return widen(v); };
    }
}
