using Microsoft.ML.Data;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Checks that the input columns exist with supported types and reads one row's fields as text through a
/// <see cref="RowTextFormatter"/>. Text columns must hold text; extra columns may hold any scalar number,
/// a boolean or text.
/// </summary>
internal sealed class RowTextReader
{
    private readonly string[] _textColumns, _extraColumns;

    public RowTextReader(IReadOnlyList<string> textColumns, IReadOnlyList<string> extraColumns)
    {
        _textColumns = textColumns.ToArray();
        _extraColumns = extraColumns.ToArray();
        Formatter = new RowTextFormatter(_textColumns.Concat(_extraColumns).ToArray());
    }

    public RowTextFormatter Formatter { get; }
    public IReadOnlyList<string> TextColumns => _textColumns;
    public IReadOnlyList<string> ExtraColumns => _extraColumns;
    public IEnumerable<string> AllColumns => _textColumns.Concat(_extraColumns);

    /// <summary>The input columns, after checking they exist with a supported type; throws naming the offending column.</summary>
    public DataViewSchema.Column[] Resolve(DataViewSchema schema)
    {
        var result = new List<DataViewSchema.Column>();
        foreach (var name in _textColumns)
        {
            var column = Find(schema, name, "text");
            if (column.Type is not TextDataViewType)
                throw new ArgumentOutOfRangeException(nameof(schema), $"Column '{name}' must hold text (String), but holds {column.Type}.");
            result.Add(column);
        }
        foreach (var name in _extraColumns)
        {
            var column = Find(schema, name, "extra");
            if (!IsSupportedScalar(column.Type))
                throw new ArgumentOutOfRangeException(nameof(schema), $"Column '{name}' must hold a scalar number, boolean or text, but holds {column.Type}.");
            result.Add(column);
        }
        return result.ToArray();
    }

    /// <summary>A function that formats the current row of <paramref name="row"/> as one text.</summary>
    public Func<string> MakeFormatter(DataViewRow row)
    {
        var columns = Resolve(row.Schema);
        var readers = columns.Select(c => MakeValueReader(row, c)).ToArray();
        var values = new object?[readers.Length];
        return () =>
        {
            for (int i = 0; i < readers.Length; i++) values[i] = readers[i]();
            return Formatter.Format(values);
        };
    }

    private static DataViewSchema.Column Find(DataViewSchema schema, string name, string role)
    {
        var column = schema.GetColumnOrNull(name);
        if (column is null || column.Value.IsHidden)
            throw new ArgumentOutOfRangeException(nameof(schema), $"The {role} input column '{name}' is not in the data. Columns present: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        return column.Value;
    }

    private static bool IsSupportedScalar(DataViewType type) =>
        type is TextDataViewType or BooleanDataViewType ||
        (type is NumberDataViewType && type.RawType != typeof(object));

    private static Func<object?> MakeValueReader(DataViewRow row, DataViewSchema.Column column)
    {
        Type raw = column.Type.RawType;
        if (raw == typeof(ReadOnlyMemory<char>)) return Reader<ReadOnlyMemory<char>>(row, column, v => v.ToString());
        if (raw == typeof(bool)) return Reader<bool>(row, column, v => v);
        if (raw == typeof(float)) return Reader<float>(row, column, v => v);
        if (raw == typeof(double)) return Reader<double>(row, column, v => v);
        if (raw == typeof(sbyte)) return Reader<sbyte>(row, column, v => v);
        if (raw == typeof(short)) return Reader<short>(row, column, v => v);
        if (raw == typeof(int)) return Reader<int>(row, column, v => v);
        if (raw == typeof(long)) return Reader<long>(row, column, v => v);
        if (raw == typeof(byte)) return Reader<byte>(row, column, v => v);
        if (raw == typeof(ushort)) return Reader<ushort>(row, column, v => v);
        if (raw == typeof(uint)) return Reader<uint>(row, column, v => v);
        if (raw == typeof(ulong)) return Reader<ulong>(row, column, v => v);
        throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' has the unsupported type {column.Type}.");
    }

    private static Func<object?> Reader<T>(DataViewRow row, DataViewSchema.Column column, Func<T, object?> box)
    {
        var getter = row.GetGetter<T>(column);
        T value = default!;
        return () => { getter(ref value); return box(value); };
    }
}
