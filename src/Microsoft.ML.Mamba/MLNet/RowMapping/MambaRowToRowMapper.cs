using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Row-by-row mapping for <c>PredictionEngine</c> and pipelines that map single rows: the model runs once
/// per input row (cached while the row stays on the same position), only when an added column is read.
/// Shared by the sequence and language-model transformers through <see cref="IRowMapping{TResult}"/>.
/// </summary>
internal sealed class MambaRowToRowMapper<TResult> : IRowToRowMapper
{
    private readonly IRowMapping<TResult> _mapping;

    public MambaRowToRowMapper(IRowMapping<TResult> mapping, DataViewSchema inputSchema)
    {
        _mapping = mapping;
        mapping.ResolveInputs(inputSchema);
        InputSchema = inputSchema;
        OutputSchema = mapping.MakeOutputSchema(inputSchema);
    }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = new HashSet<int>();
        foreach (var c in dependingColumns)
        {
            if (c.Index < InputSchema.Count) needed.Add(c.Index);
            else foreach (var input in _mapping.ResolveInputs(InputSchema)) needed.Add(input.Index);
        }
        return needed.Select(i => InputSchema[i]);
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        => new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row : DataViewRow
    {
        private readonly MambaRowToRowMapper<TResult> _parent;
        private readonly DataViewRow _input;
        private readonly HashSet<int> _active;
        private readonly Func<string>? _readInput;
        private long _mappedPosition = -1;
        private TResult _result = default!;

        public Row(MambaRowToRowMapper<TResult> parent, DataViewRow input, HashSet<int> active)
        {
            _parent = parent; _input = input; _active = active;
            if (active.Any(i => i >= parent.InputSchema.Count)) _readInput = parent._mapping.MakeInputReader(input);
        }

        public override DataViewSchema Schema => _parent.OutputSchema;
        public override long Position => _input.Position;
        public override long Batch => _input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        private TResult Current()
        {
            if (_mappedPosition != _input.Position || _input.Position < 0)
            {
                _result = _parent._mapping.Map([_readInput!()])[0];
                _mappedPosition = _input.Position;
            }
            return _result;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _parent.InputSchema.Count) return _input.GetGetter<TValue>(_parent.InputSchema[column.Index]);
            return _parent._mapping.MakeGetter(column.Name, Current) as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' holds {column.Type}, not {typeof(TValue).Name}.");
        }
    }
}
