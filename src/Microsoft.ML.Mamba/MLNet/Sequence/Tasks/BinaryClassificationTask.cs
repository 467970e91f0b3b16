using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// True or false. Label: Boolean; target: 1 or 0. Head: one logit; loss: binary cross-entropy on the logit.
/// Adds Score (the logit, the margin as in ML.NET's binary trainers), Probability (sigmoid of Score) and
/// PredictedLabel (Score &gt; 0).
/// </summary>
internal sealed class BinaryClassificationTask : SequenceTask
{
    public const string ProbabilityColumnName = "Probability";

    public static readonly BinaryClassificationTask Instance = new();
    private BinaryClassificationTask() { }

    public override MambaTask Kind => MambaTask.BinaryClassification;
    protected override string ScoreColumnKind => "BinaryClassification";

    public override LabelInfo DescribeLabel(DataViewSchema.Column column)
    {
        if (column.Type is not BooleanDataViewType)
            throw new ArgumentOutOfRangeException("schema", $"The label column '{column.Name}' must be Boolean for binary classification, but holds {column.Type}.");
        return new LabelInfo(column.Name, this, 1, null);
    }

    public override LabelInfo DescribeLabelShape(SchemaShape.Column column)
    {
        if (column.ItemType is not BooleanDataViewType || column.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw LabelError(column.Name, "Boolean for binary classification", column.ItemType);
        return new LabelInfo(column.Name, this, 1, null);
    }

    public override Func<float> MakeLabelReader(DataViewRow row, LabelInfo label)
    {
        var get = row.GetGetter<bool>(row.Schema[label.ColumnName]);
        bool v = false;
        return () => { get(ref v); return v ? 1f : 0f; };
    }

    public override Tensor Loss(Tensor output, float[] targets, Device device)
    {
        return nn.functional.binary_cross_entropy_with_logits(output.squeeze(-1), torch.tensor(targets).to(device));
    }

    public override string[] OutputColumnNames(MambaOutputColumns columns) =>
        [columns.ScoreColumnName, ProbabilityColumnName, columns.PredictedLabelColumnName];

    public override void AddOutputColumns(DataViewSchema.Builder builder, MambaOutputColumns columns)
    {
        builder.AddColumn(columns.ScoreColumnName, NumberDataViewType.Single, ScoreAnnotations("Score"));
        builder.AddColumn(ProbabilityColumnName, NumberDataViewType.Single, ScoreAnnotations("Probability"));
        builder.AddColumn(columns.PredictedLabelColumnName, BooleanDataViewType.Instance, ScoreAnnotations("PredictedLabel"));
    }

    public override Delegate MakeGetter(MambaOutputColumns columns, string name, Func<float[]> current)
    {
        if (name == columns.ScoreColumnName) return (ValueGetter<float>)((ref float v) => v = current()[0]);
        if (name == ProbabilityColumnName) return (ValueGetter<float>)((ref float v) => v = 1f / (1f + MathF.Exp(-current()[0])));
        if (name == columns.PredictedLabelColumnName) return (ValueGetter<bool>)((ref bool v) => v = current()[0] > 0);
        throw MambaOutputColumns.NotAnOutput(name);
    }
}
