using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The columns a Mamba transformer adds and how one row's scores fill them; the task object decides which
/// columns, their types and annotations, and the getters (see <see cref="SequenceTask"/> and its subclasses).
/// </summary>
internal sealed class MambaOutputColumns
{
    public MambaOutputColumns(SequenceTask task, int numberOfClasses, string[]? classNames, string scoreColumnName, string predictedLabelColumnName)
    {
        Task = task; NumberOfClasses = numberOfClasses; ClassNames = classNames;
        ScoreColumnName = scoreColumnName; PredictedLabelColumnName = predictedLabelColumnName;
    }

    public SequenceTask Task { get; }
    public int NumberOfClasses { get; }
    public string[]? ClassNames { get; }
    public string ScoreColumnName { get; }
    public string PredictedLabelColumnName { get; }

    /// <summary>Names of the added columns, in schema order.</summary>
    public string[] Names => Task.OutputColumnNames(this);

    /// <summary>The input columns followed by the added ones.</summary>
    public DataViewSchema MakeSchema(DataViewSchema input)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        Task.AddOutputColumns(builder, this);
        return builder.ToSchema();
    }

    /// <summary>A getter for added column <paramref name="name"/> reading the current row's output from <paramref name="current"/>.</summary>
    public Delegate MakeGetter(string name, Func<float[]> current) => Task.MakeGetter(this, name, current);

    internal static ArgumentOutOfRangeException NotAnOutput(string name) =>
        new(nameof(name), $"'{name}' is not an output column of this Mamba transformer.");
}
