using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// One of several classes. Label: a key with a known count (MapValueToKey); target: the 0-based class index.
/// Head: one logit per class; loss: cross-entropy. Adds Score (class probabilities, slot names = class names)
/// and PredictedLabel (a key with the label's key values as text, so MapKeyToValue works after the trainer).
/// </summary>
internal sealed class MulticlassClassificationTask : SequenceTask
{
    public static readonly MulticlassClassificationTask Instance = new();
    private MulticlassClassificationTask() { }

    public override MambaTask Kind => MambaTask.MulticlassClassification;
    protected override string ScoreColumnKind => "MulticlassClassification";

    public override LabelInfo DescribeLabel(DataViewSchema.Column column)
    {
        if (column.Type is not KeyDataViewType key)
            throw new ArgumentOutOfRangeException("schema", $"The label column '{column.Name}' must be a key for multiclass classification (use mlContext.Transforms.Conversion.MapValueToKey), but holds {column.Type}.");
        if (key.Count < 2 || key.Count > int.MaxValue)
            throw new ArgumentOutOfRangeException("schema", $"The label column '{column.Name}' must be a key with a known count of at least 2 classes, but has {key.Count}.");
        return new LabelInfo(column.Name, this, (int)key.Count, LabelInfo.ReadKeyValues(column, (int)key.Count));
    }

    public override LabelInfo DescribeLabelShape(SchemaShape.Column column)
    {
        if (!column.IsKey || column.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw LabelError(column.Name, "a key for multiclass classification (use mlContext.Transforms.Conversion.MapValueToKey)", column.ItemType);
        // A shape keeps no key count and no annotation values, only which annotations exist: two placeholder
        // classes give the right shapes, and the PredictedLabel key carries key values when the label's key does.
        bool named = column.Annotations.Any(a => a.Name == "KeyValues");
        return new LabelInfo(column.Name, this, 2, named ? ["", ""] : null);
    }

    public override string? CheckNumberOfOutputs(int numberOfOutputs) =>
        numberOfOutputs >= 1 && numberOfOutputs <= MambaTransformerSettings.MaxClasses ? null : $"must be between 1 and {MambaTransformerSettings.MaxClasses}";

    public override Func<float> MakeLabelReader(DataViewRow row, LabelInfo label)
    {
        var column = row.Schema[label.ColumnName];
        var raw = column.Type.RawType;
        Func<ulong> key =
            raw == typeof(uint) ? Key<uint>(row, column, v => v) :
            raw == typeof(ulong) ? Key<ulong>(row, column, v => v) :
            raw == typeof(ushort) ? Key<ushort>(row, column, v => v) :
            Key<byte>(row, column, v => v);
        int count = label.NumberOfOutputs;
        // Keys are 1-based; 0 is a missing value (for example a label unseen when the key mapping was built).
        return () => { ulong k = key(); return k == 0 || k > (ulong)count ? float.NaN : k - 1; };
    }

    private static Func<ulong> Key<T>(DataViewRow row, DataViewSchema.Column column, Func<T, ulong> widen)
    {
        var get = row.GetGetter<T>(column);
        T v = default!;
        return () => { get(ref v); return widen(v); };
    }

    public override Tensor Loss(Tensor output, float[] targets, Device device)
    {
        // Temporaries are left to the caller's dispose scope (`to` may return the same tensor on the same device).
        return nn.functional.cross_entropy(output, torch.tensor(targets.Select(t => (long)t).ToArray()).to(device));
    }

    public override string[] OutputColumnNames(MambaOutputColumns columns) => [columns.ScoreColumnName, columns.PredictedLabelColumnName];

    public override void AddOutputColumns(DataViewSchema.Builder builder, MambaOutputColumns columns)
    {
        builder.AddColumn(columns.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, columns.NumberOfClasses),
            ScoreAnnotations("Score", columns.ClassNames));
        var keyAnnotations = new DataViewSchema.Annotations.Builder();
        if (columns.ClassNames is { } names) AddNames(keyAnnotations, "KeyValues", names);
        builder.AddColumn(columns.PredictedLabelColumnName, new KeyDataViewType(typeof(uint), columns.NumberOfClasses), keyAnnotations.ToAnnotations());
    }

    public override Delegate MakeGetter(MambaOutputColumns columns, string name, Func<float[]> current)
    {
        if (name == columns.ScoreColumnName)
            return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
            {
                var o = current();
                var editor = VBufferEditor.Create(ref v, o.Length);
                o.AsSpan().CopyTo(editor.Values);
                v = editor.Commit();
            });
        if (name == columns.PredictedLabelColumnName)
            return (ValueGetter<uint>)((ref uint v) =>
            {
                var o = current();
                int best = 0;
                for (int i = 1; i < o.Length; i++) if (o[i] > o[best]) best = i;
                v = (uint)best + 1; // keys are 1-based; 0 means missing
            });
        throw MambaOutputColumns.NotAnOutput(name);
    }

    public override float[] ToScores(Tensor output, TargetScaling scaling)
    {
        return base.ToScores(nn.functional.softmax(output, -1), scaling);
    }
}
