using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The lazy result of a Mamba transformer's <c>Transform</c>: the input columns plus the added columns.
/// A cursor maps rows in batches (<see cref="IRowMapping{TResult}.BatchSize"/>): a look-ahead cursor over the
/// input reads the next batch of inputs and one call maps them (one forward pass when scoring), while a second
/// input cursor, moving in step, serves the passed-through columns.
/// </summary>
internal sealed class MambaScoredDataView<TResult> : IDataView
{
    private readonly IDataView _input;
    private readonly IRowMapping<TResult> _mapping;

    public MambaScoredDataView(IDataView input, IRowMapping<TResult> mapping)
    {
        _input = input; _mapping = mapping;
        mapping.ResolveInputs(input.Schema); // fail now, naming the column, rather than on first read
        Schema = mapping.MakeOutputSchema(input.Schema);
    }

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToArray();
        int inputCount = _input.Schema.Count;
        var passThrough = needed.Where(c => c.Index < inputCount).Select(c => _input.Schema[c.Index]).ToArray();
        bool scoring = needed.Any(c => c.Index >= inputCount);
        var main = _input.GetRowCursor(passThrough);
        DataViewRowCursor? lookAhead = scoring ? _input.GetRowCursor(_mapping.ResolveInputs(_input.Schema)) : null;
        return new Cursor(this, main, lookAhead, needed.Select(c => c.Index).ToHashSet());
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly MambaScoredDataView<TResult> _parent;
        private readonly DataViewRowCursor _main;
        private readonly DataViewRowCursor? _lookAhead;
        private readonly Func<string>? _readInput;
        private readonly HashSet<int> _active;
        private TResult[] _batch = [];
        private int _inBatch = -1;
        private long _position = -1;

        public Cursor(MambaScoredDataView<TResult> parent, DataViewRowCursor main, DataViewRowCursor? lookAhead, HashSet<int> active)
        {
            _parent = parent; _main = main; _lookAhead = lookAhead; _active = active;
            _readInput = lookAhead is null ? null : parent._mapping.MakeInputReader(lookAhead);
        }

        public override DataViewSchema Schema => _parent.Schema;
        public override long Position => _position;
        public override long Batch => 0;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _main.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override bool MoveNext()
        {
            if (!_main.MoveNext()) return false;
            _position++;
            if (_lookAhead is not null && ++_inBatch >= _batch.Length) FillBatch();
            return true;
        }

        private void FillBatch()
        {
            var inputs = new List<string>();
            int size = _parent._mapping.BatchSize;
            while (inputs.Count < size && _lookAhead!.MoveNext()) inputs.Add(_readInput!());
            _batch = _parent._mapping.Map(inputs);
            _inBatch = 0;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int inputCount = _parent._input.Schema.Count;
            if (column.Index < inputCount) return _main.GetGetter<TValue>(_parent._input.Schema[column.Index]);
            var getter = _parent._mapping.MakeGetter(column.Name, () => _batch[_inBatch]);
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' holds {column.Type}, not {typeof(TValue).Name}.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) { _main.Dispose(); _lookAhead?.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
