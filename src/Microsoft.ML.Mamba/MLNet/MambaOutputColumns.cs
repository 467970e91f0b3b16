using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The columns a Mamba transformer adds and how one row's network output fills them.
/// Multiclass: Score = class probabilities (vector, slot names = class names), PredictedLabel = key with the
/// training label's key values. Binary: Score = logit (the margin, as in ML.NET's binary trainers),
/// Probability = sigmoid(Score), PredictedLabel = Score &gt; 0. Regression: Score = the predicted value.
/// </summary>
internal sealed class MambaOutputColumns
{
    public const string ProbabilityColumnName = "Probability";

    public MambaOutputColumns(MambaTask task, int numberOfClasses, string[]? classNames, string scoreColumnName, string predictedLabelColumnName)
    {
        Task = task; NumberOfClasses = numberOfClasses; ClassNames = classNames;
        ScoreColumnName = scoreColumnName; PredictedLabelColumnName = predictedLabelColumnName;
    }

    public MambaTask Task { get; }
    public int NumberOfClasses { get; }
    public string[]? ClassNames { get; }
    public string ScoreColumnName { get; }
    public string PredictedLabelColumnName { get; }

    /// <summary>Names of the added columns, in schema order.</summary>
    public string[] Names => Task switch
    {
        MambaTask.MulticlassClassification => [ScoreColumnName, PredictedLabelColumnName],
        MambaTask.BinaryClassification => [ScoreColumnName, ProbabilityColumnName, PredictedLabelColumnName],
        _ => [ScoreColumnName],
    };

    /// <summary>The input columns followed by the added ones.</summary>
    public DataViewSchema MakeSchema(DataViewSchema input)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        string kind = Task switch
        {
            MambaTask.MulticlassClassification => "MulticlassClassification",
            MambaTask.BinaryClassification => "BinaryClassification",
            _ => "Regression",
        };
        switch (Task)
        {
            case MambaTask.MulticlassClassification:
                builder.AddColumn(ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, NumberOfClasses), ScoreAnnotations(kind, "Score", withSlotNames: true));
                var keyAnnotations = new DataViewSchema.Annotations.Builder();
                AddNames(keyAnnotations, "KeyValues");
                builder.AddColumn(PredictedLabelColumnName, new KeyDataViewType(typeof(uint), NumberOfClasses), keyAnnotations.ToAnnotations());
                break;
            case MambaTask.BinaryClassification:
                builder.AddColumn(ScoreColumnName, NumberDataViewType.Single, ScoreAnnotations(kind, "Score", false));
                builder.AddColumn(ProbabilityColumnName, NumberDataViewType.Single, ScoreAnnotations(kind, "Probability", false));
                builder.AddColumn(PredictedLabelColumnName, BooleanDataViewType.Instance, ScoreAnnotations(kind, "PredictedLabel", false));
                break;
            default:
                builder.AddColumn(ScoreColumnName, NumberDataViewType.Single, ScoreAnnotations(kind, "Score", false));
                break;
        }
        return builder.ToSchema();
    }

    private DataViewSchema.Annotations ScoreAnnotations(string columnKind, string valueKind, bool withSlotNames)
    {
        var a = new DataViewSchema.Annotations.Builder();
        a.Add("ScoreColumnKind", TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = columnKind.AsMemory());
        a.Add("ScoreValueKind", TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = valueKind.AsMemory());
        if (withSlotNames) AddNames(a, "SlotNames");
        return a.ToAnnotations();
    }

    private void AddNames(DataViewSchema.Annotations.Builder builder, string kind)
    {
        if (ClassNames is null) return;
        var names = ClassNames.Select(n => n.AsMemory()).ToArray();
        builder.Add(kind, new VectorDataViewType(TextDataViewType.Instance, names.Length),
            (ref VBuffer<ReadOnlyMemory<char>> v) => v = new VBuffer<ReadOnlyMemory<char>>(names.Length, (ReadOnlyMemory<char>[])names.Clone()));
    }

    /// <summary>A getter for added column <paramref name="name"/> reading the current row's output from <paramref name="current"/>.</summary>
    public Delegate MakeGetter(string name, Func<float[]> current)
    {
        if (name == ScoreColumnName && Task == MambaTask.MulticlassClassification)
            return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
            {
                var o = current();
                var editor = VBufferEditor.Create(ref v, o.Length);
                o.AsSpan().CopyTo(editor.Values);
                v = editor.Commit();
            });
        if (name == ScoreColumnName)
            return (ValueGetter<float>)((ref float v) => v = current()[0]);
        if (name == ProbabilityColumnName && Task == MambaTask.BinaryClassification)
            return (ValueGetter<float>)((ref float v) => v = 1f / (1f + MathF.Exp(-current()[0])));
        if (name == PredictedLabelColumnName && Task == MambaTask.BinaryClassification)
            return (ValueGetter<bool>)((ref bool v) => v = current()[0] > 0);
        if (name == PredictedLabelColumnName && Task == MambaTask.MulticlassClassification)
            return (ValueGetter<uint>)((ref uint v) =>
            {
                var o = current();
                int best = 0;
                for (int i = 1; i < o.Length; i++) if (o[i] > o[best]) best = i;
                v = (uint)best + 1; // keys are 1-based; 0 means missing
            });
        throw new ArgumentOutOfRangeException(nameof(name), $"'{name}' is not an output column of this Mamba transformer.");
    }
}
