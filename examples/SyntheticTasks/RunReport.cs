using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Writes an example's RESULTS.md: what was run (the exact command), on what, for how long, and the table of
/// measured accuracies. Written at the end of a run so the file never describes a run that did not finish.
/// </summary>
public static class RunReport
{
    public static string Render(string title, string task, IReadOnlyList<string> args, string device, TrainingOptions options,
        TimeSpan wallTime, string table, string? notes = null)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# {title}\n\n");
        text.Append(CultureInfo.InvariantCulture, $"Measured by `examples/{task}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.\n\n");
        text.Append("```bash\n").Append(CommandLine(task, args)).Append("\n```\n\n");
        text.Append(CultureInfo.InvariantCulture, $"- device: {device}; {Environment.ProcessorCount} logical CPU(s); {RuntimeInformation.OSDescription}\n");
        text.Append(CultureInfo.InvariantCulture,
            $"- model: {options.Layers} layers, model dimension {options.ModelDimension}, state size {options.StateSize}, expand 2, conv width 4\n");
        text.Append(CultureInfo.InvariantCulture,
            $"- training: {(options.MayStopEarly ? "up to " : "")}{options.Steps} steps × batch {options.BatchSize} at length {options.TrainLength}, Adam, {(options.LrDropAt is null ? "constant lr" : "lr")} {options.LearningRate.ToString("G", CultureInfo.InvariantCulture)}{(options.LrDropTo is { } dropTo ? $" then {dropTo.ToString("G", CultureInfo.InvariantCulture)} (see below)" : "")}, seed {options.Seed}, fresh data every step\n");
        if (options.ChecksDuringTraining() is { } checks)
            text.Append(CultureInfo.InvariantCulture, $"- during training: {checks} (\"Steps run\" says where each variant stopped)\n");
        if (options.CheckpointsInWords() is { } checkpoints)
            text.Append(CultureInfo.InvariantCulture, $"- checkpoints: {checkpoints}\n");
        text.Append(CultureInfo.InvariantCulture, $"- evaluation: {options.EvalSequences} fresh sequences per cell\n");
        text.Append(CultureInfo.InvariantCulture,
            $"- wall time: {wallTime.TotalMinutes:F1} min for the whole {(options.Resume ? "invocation (this command)" : "run")}\n\n");
        if (notes is not null) text.Append(notes.TrimEnd()).Append("\n\n");
        text.Append(table);
        return text.ToString();
    }

    /// <summary>
    /// The header of the train-time column: "Train time", or with --resume "Train time (all invocations)", since the
    /// column then adds the training time of the earlier invocations (<see cref="TrainingResult.TotalTrainTime"/>).
    /// </summary>
    public static string TrainTimeHeader(TrainingOptions options) => options.Resume ? "Train time (all invocations)" : "Train time";

    /// <summary>The command that reproduces the run from the repository root.</summary>
    public static string CommandLine(string task, IReadOnlyList<string> args) =>
        $"dotnet run -c Release --project examples/{task} --" + string.Concat(args.Select(a => " " + Quote(a)));

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_.,:=/+".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";

    /// <summary>
    /// The end of an example's run: its report (<see cref="Render"/>) written to the results path, then the table and
    /// where the report went printed.
    /// </summary>
    public static void Publish(string title, string task, IReadOnlyList<string> args, CommonFlags common, TrainingOptions options,
        TimeSpan wallTime, MarkdownTable table, string notes)
    {
        Write(common.ResultsPath, Render(title, task, args, common.DeviceName, options, wallTime, table.ToString(), notes));
        Console.WriteLine();
        Console.WriteLine(table);
        Console.WriteLine($"written to {common.ResultsPath}");
    }

    /// <summary>Writes <paramref name="markdown"/> to <paramref name="path"/>, creating its folder.</summary>
    public static void Write(string path, string markdown)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        File.WriteAllText(path, markdown);
    }

    /// <summary>Human-readable elapsed time.</summary>
    public static string Duration(TimeSpan t) => t.TotalMinutes >= 1 ? $"{t.TotalMinutes:F1} min" : $"{t.TotalSeconds:F0} s";
}
