using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Row-by-row scoring for <c>PredictionEngine</c> and pipelines that map single rows: the network runs once
/// per input row (cached while the row stays on the same position).
/// </summary>
internal sealed class MambaRowToRowMapper : IRowToRowMapper
{
    private readonly MambaTransformer _transformer;

    public MambaRowToRowMapper(MambaTransformer transformer, DataViewSchema inputSchema)
    {
        _transformer = transformer;
        transformer.TextReader.Resolve(inputSchema);
        InputSchema = inputSchema;
        OutputSchema = transformer.Outputs.MakeSchema(inputSchema);
    }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = new HashSet<int>();
        foreach (var c in dependingColumns)
        {
            if (c.Index < InputSchema.Count) needed.Add(c.Index);
            else foreach (var input in _transformer.TextReader.Resolve(InputSchema)) needed.Add(input.Index);
        }
        return needed.Select(i => InputSchema[i]);
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        => new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row : DataViewRow
    {
        private readonly MambaRowToRowMapper _parent;
        private readonly DataViewRow _input;
        private readonly HashSet<int> _active;
        private readonly Func<string>? _readText;
        private long _scoredPosition = -1;
        private float[] _output = [];

        public Row(MambaRowToRowMapper parent, DataViewRow input, HashSet<int> active)
        {
            _parent = parent; _input = input; _active = active;
            if (active.Any(i => i >= parent.InputSchema.Count)) _readText = parent._transformer.TextReader.MakeFormatter(input);
        }

        public override DataViewSchema Schema => _parent.OutputSchema;
        public override long Position => _input.Position;
        public override long Batch => _input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        private float[] Current()
        {
            if (_scoredPosition != _input.Position || _input.Position < 0)
            {
                _output = _parent._transformer.Scorer.Score([_readText!()], 1)[0];
                _scoredPosition = _input.Position;
            }
            return _output;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _parent.InputSchema.Count) return _input.GetGetter<TValue>(_parent.InputSchema[column.Index]);
            return _parent._transformer.Outputs.MakeGetter(column.Name, Current) as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' holds {column.Type}, not {typeof(TValue).Name}.");
        }
    }
}
