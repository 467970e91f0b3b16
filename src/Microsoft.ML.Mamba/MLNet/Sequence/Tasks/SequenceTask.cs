using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Everything that differs between the ML.NET tasks a Mamba sequence model is trained for, in one object per
/// task: which label column type it accepts and how a row's label becomes a training target, how many outputs
/// the head has, how targets are prepared (regression standardises them), the loss, the columns the transformer
/// adds (types, annotations, getters) and how network outputs become scores. The trainers, the transformer, the
/// scorer and the saved settings ask the task object; only <see cref="For"/> switches on <see cref="MambaTask"/>.
/// </summary>
/// <remarks>
/// A new task is one subclass plus one <see cref="MambaTask"/> value mapped in <see cref="For"/>. Token
/// classification, for example, would accept a vector-of-keys label (one key per token), read it as one
/// target per token, need a per-token head (the network's pooling set to none, so outputs are [batch, length,
/// classes]), compute the cross-entropy over the unmasked tokens, and add a vector-of-keys PredictedLabel with
/// the label's key values; the training loop, persistence, row mapper and data view stay as they are.
/// </remarks>
internal abstract class SequenceTask
{
    /// <summary>The task object for <paramref name="task"/> (the one switch over <see cref="MambaTask"/>).</summary>
    public static SequenceTask For(MambaTask task) => task switch
    {
        MambaTask.MulticlassClassification => MulticlassClassificationTask.Instance,
        MambaTask.BinaryClassification => BinaryClassificationTask.Instance,
        MambaTask.Regression => RegressionTask.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, $"'{task}' is not a known Mamba task."),
    };

    /// <summary>The public name of this task (persisted in model zips).</summary>
    public abstract MambaTask Kind { get; }

    /// <summary>ML.NET's <c>ScoreColumnKind</c> annotation value of the added columns.</summary>
    protected abstract string ScoreColumnKind { get; }

    // ---- Label ----

    /// <summary>Checks the label column's type and describes it; throws <see cref="ArgumentOutOfRangeException"/> naming the column.</summary>
    public abstract LabelInfo DescribeLabel(DataViewSchema.Column column);

    /// <summary>Checks the label column's shape (at <c>GetOutputSchema</c>, before any data) and describes it as far as a shape can; throws naming the column.</summary>
    public abstract LabelInfo DescribeLabelShape(SchemaShape.Column column);

    /// <summary>A reader of the current row's label as a training target; NaN for a missing label (the row is skipped).</summary>
    public abstract Func<float> MakeLabelReader(DataViewRow row, LabelInfo label);

    /// <summary>Null when a saved model's number of outputs suits this task, else the rule it breaks.</summary>
    public virtual string? CheckNumberOfOutputs(int numberOfOutputs) => numberOfOutputs == 1 ? null : $"must be 1 for {Kind}";

    // ---- Targets and loss ----

    /// <summary>The target scaling fitted on the training targets (identity unless the task standardises).</summary>
    public virtual TargetScaling FitTargetScaling(IReadOnlyList<float> targets) => TargetScaling.Identity;

    /// <summary>The training loss of a batch: <paramref name="output"/> is the network output [batch, outputs], <paramref name="targets"/> one per row.</summary>
    public abstract Tensor Loss(Tensor output, float[] targets, Device device);

    // ---- Output columns and scores ----

    /// <summary>Names of the columns the transformer adds, in schema order.</summary>
    public abstract string[] OutputColumnNames(MambaOutputColumns columns);

    /// <summary>Adds the output columns (types and annotations) to <paramref name="builder"/>.</summary>
    public abstract void AddOutputColumns(DataViewSchema.Builder builder, MambaOutputColumns columns);

    /// <summary>A getter for added column <paramref name="name"/> reading the current row's scores from <paramref name="current"/>.</summary>
    public abstract Delegate MakeGetter(MambaOutputColumns columns, string name, Func<float[]> current);

    /// <summary>A batch's network output [batch, outputs] as scores, row after row (probabilities, logits or values).</summary>
    public virtual float[] ToScores(Tensor output, TargetScaling scaling) => output.to(float32).cpu().data<float>().ToArray();

    /// <summary>The ScoreColumnKind / ScoreValueKind annotations ML.NET's evaluators and scorers look for.</summary>
    protected DataViewSchema.Annotations ScoreAnnotations(string valueKind, string[]? slotNames = null)
    {
        var a = new DataViewSchema.Annotations.Builder();
        string columnKind = ScoreColumnKind;
        a.Add("ScoreColumnKind", TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = columnKind.AsMemory());
        a.Add("ScoreValueKind", TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = valueKind.AsMemory());
        if (slotNames is not null) AddNames(a, "SlotNames", slotNames);
        return a.ToAnnotations();
    }

    /// <summary>Adds a text vector annotation (key values, slot names).</summary>
    protected static void AddNames(DataViewSchema.Annotations.Builder builder, string kind, string[] names)
    {
        var values = names.Select(n => n.AsMemory()).ToArray();
        builder.Add(kind, new VectorDataViewType(TextDataViewType.Instance, values.Length),
            (ref VBuffer<ReadOnlyMemory<char>> v) => v = new VBuffer<ReadOnlyMemory<char>>(values.Length, (ReadOnlyMemory<char>[])values.Clone()));
    }

    /// <summary>The label column's error, naming it.</summary>
    protected static ArgumentOutOfRangeException LabelError(string name, string rule, object type) =>
        new("inputSchema", $"The label column '{name}' must be {rule}, but holds {type}.");
}
