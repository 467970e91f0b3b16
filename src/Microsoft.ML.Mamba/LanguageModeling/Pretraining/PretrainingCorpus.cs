using Microsoft.ML.Data;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// Streams the texts of a pretraining corpus lazily, one at a time, so a corpus of any size can be tokenized
/// (<see cref="PretrainingData.Prepare(IEnumerable{string}, Text.IMambaTokenizer, string, PretrainingDataOptions?)"/>)
/// without ever being held in memory.
/// </summary>
public static class PretrainingCorpus
{
    /// <summary>
    /// The non-blank lines of text files, each line one document (a sentence, paragraph or verse).
    /// A folder contributes its <c>*.txt</c> files, recursively, in ordinal name order; files are read as UTF-8.
    /// </summary>
    /// <param name="paths">Files and folders, read in the order given.</param>
    /// <exception cref="FileNotFoundException">A path is neither a file nor a folder (thrown when enumeration reaches it).</exception>
    public static IEnumerable<string> ReadLines(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        return Iterate(paths.ToArray());

        static IEnumerable<string> Iterate(string[] paths)
        {
            foreach (var file in Files(paths))
                foreach (var line in File.ReadLines(file))
                    if (!string.IsNullOrWhiteSpace(line)) yield return line;
        }
    }

    /// <summary>The files <see cref="ReadLines"/> reads, in order.</summary>
    /// <exception cref="FileNotFoundException">A path is neither a file nor a folder.</exception>
    public static IReadOnlyList<string> Files(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (File.Exists(path)) files.Add(path);
            else if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
            else throw new FileNotFoundException($"Corpus path '{path}' is neither a file nor a folder.", path);
        }
        return files;
    }

    /// <summary>The non-empty values of a text column, read row by row through a cursor.</summary>
    /// <param name="data">The data.</param>
    /// <param name="column">A column of type text.</param>
    /// <exception cref="ArgumentException">The column is missing or not text; the message names it.</exception>
    public static IEnumerable<string> FromDataView(IDataView data, string column)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(column);
        var col = data.Schema.GetColumnOrNull(column)
                  ?? throw new ArgumentException($"The data has no column '{column}' (columns: {string.Join(", ", data.Schema.Select(c => c.Name))}).", nameof(column));
        if (col.Type is not TextDataViewType)
            throw new ArgumentException($"Column '{column}' is {col.Type}, not text.", nameof(column));
        return data.GetColumn<ReadOnlyMemory<char>>(column).Where(v => !v.Span.IsWhiteSpace()).Select(v => v.ToString());
    }
}
