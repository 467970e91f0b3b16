using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// A number. Label: Single (NaN or infinity = missing); targets are standardised with the training set's mean
/// and standard deviation, and predictions mapped back. Head: one output; loss: mean squared error. Adds Score.
/// </summary>
internal sealed class RegressionTask : SequenceTask
{
    public static readonly RegressionTask Instance = new();
    private RegressionTask() { }

    public override MambaTask Kind => MambaTask.Regression;
    protected override string ScoreColumnKind => "Regression";

    public override LabelInfo DescribeLabel(DataViewSchema.Column column)
    {
        if (column.Type != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException("schema", $"The label column '{column.Name}' must be Single for regression, but holds {column.Type}.");
        return new LabelInfo(column.Name, this, 1, null);
    }

    public override LabelInfo DescribeLabelShape(SchemaShape.Column column)
    {
        if (column.ItemType != NumberDataViewType.Single || column.Kind != SchemaShape.Column.VectorKind.Scalar || column.IsKey)
            throw LabelError(column.Name, "Single for regression", column.ItemType);
        return new LabelInfo(column.Name, this, 1, null);
    }

    public override Func<float> MakeLabelReader(DataViewRow row, LabelInfo label)
    {
        var get = row.GetGetter<float>(row.Schema[label.ColumnName]);
        float v = 0;
        return () => { get(ref v); return float.IsFinite(v) ? v : float.NaN; };
    }

    /// <summary>Standardises, so one learning rate suits any label scale (a constant label keeps scale 1).</summary>
    public override TargetScaling FitTargetScaling(IReadOnlyList<float> targets)
    {
        float mean = targets.Average(t => t);
        double variance = targets.Average(t => (t - mean) * (double)(t - mean));
        return new TargetScaling(mean, variance > 1e-12 ? (float)Math.Sqrt(variance) : 1f);
    }

    public override Tensor Loss(Tensor output, float[] targets, Device device)
    {
        return nn.functional.mse_loss(output.squeeze(-1), torch.tensor(targets).to(device));
    }

    public override string[] OutputColumnNames(MambaOutputColumns columns) => [columns.ScoreColumnName];

    public override void AddOutputColumns(DataViewSchema.Builder builder, MambaOutputColumns columns) =>
        builder.AddColumn(columns.ScoreColumnName, NumberDataViewType.Single, ScoreAnnotations("Score"));

    public override Delegate MakeGetter(MambaOutputColumns columns, string name, Func<float[]> current)
    {
        if (name == columns.ScoreColumnName) return (ValueGetter<float>)((ref float v) => v = current()[0]);
        throw MambaOutputColumns.NotAnOutput(name);
    }

    // Mapped back here rather than as tensor arithmetic: `output * scale + mean` makes implicit TorchSharp scalars
    // on every batch (see Interop/TorchScalars.cs).
    public override float[] ToScores(Tensor output, TargetScaling scaling)
    {
        var values = base.ToScores(output, scaling);
        for (int i = 0; i < values.Length; i++) values[i] = scaling.Invert(values[i]);
        return values;
    }
}
