using System.Globalization;
using static System.FormattableString;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Examples.FineTuning;

/// <summary>
/// How a tokenizer splits a set's rows (as Mamba reads them) and how much of each row a token budget keeps: tokens per
/// row, characters per token, rows that fit, and for multi-field rows the tokens the fields before the last one use
/// up and the share of the last field (the e-mail body) that survives. Written for <c>--token-report</c>.
/// </summary>
public static class TokenReport
{
    /// <summary>One markdown table row per (tokenizer, budget); <paramref name="lastField"/> is the field written last (null: none).</summary>
    public static string Describe(IReadOnlyList<string> texts, IReadOnlyList<(string Name, IMambaTokenizer Tokenizer)> tokenizers,
        IReadOnlyList<int> budgets, string? lastField)
    {
        var table = new System.Text.StringBuilder();
        table.AppendLine($"{texts.Count} training rows as Mamba reads them" + (lastField is null ? "" : $" (the field '{lastField}' last)") + ".");
        table.AppendLine();
        table.AppendLine("| tokenizer | chars/token | tokens per row: median / p90 | budget | rows that fit | tokens before the last field: median | last field's tokens kept: median share | rows with none of it |");
        table.AppendLine("|---|---|---|---|---|---|---|---|");
        string marker = lastField is null ? "" : "\n" + lastField + ": ";
        foreach (var (name, tokenizer) in tokenizers)
        {
            var total = new int[texts.Count];
            var before = new int[texts.Count];
            var last = new int[texts.Count];
            long chars = 0;
            for (int i = 0; i < texts.Count; i++)
            {
                string text = texts[i];
                chars += text.Length;
                total[i] = tokenizer.Encode(text).Count;
                int at = lastField is null ? -1 : text.IndexOf(marker, StringComparison.Ordinal);
                before[i] = at < 0 ? total[i] : tokenizer.Encode(text[..(at + marker.Length)]).Count;
                last[i] = total[i] - before[i];
            }
            foreach (int budget in budgets)
            {
                var keptShare = Enumerable.Range(0, texts.Count).Where(i => last[i] > 0)
                    .Select(i => Math.Clamp(budget - before[i], 0, last[i]) / (double)last[i]).ToArray();
                int noneKept = Enumerable.Range(0, texts.Count).Count(i => last[i] > 0 && before[i] >= budget);
                string fit = lastField is null ? "- | - | - |"
                    : Invariant($"{Quantile(before, 0.5):F0} | {Quantile(keptShare, 0.5):P0} | {noneKept / (double)texts.Count:P0} |");
                table.AppendLine(Invariant(
                    $"| {name} | {chars / (double)total.Sum():F2} | {Quantile(total, 0.5):F0} / {Quantile(total, 0.9):F0} | {budget} | {total.Count(t => t <= budget) / (double)texts.Count:P0} | {fit}"));
            }
        }
        return table.ToString();
    }

    /// <summary>The first <paramref name="budget"/> tokens of a text, each in brackets, to see what the network is given.</summary>
    public static string Show(string text, IMambaTokenizer tokenizer, int budget) =>
        string.Concat(tokenizer.Encode(text).Take(budget).Select(id => "[" + tokenizer.Decode([id]).Replace("\n", "\\n") + "]"));

    private static double Quantile(IReadOnlyList<int> values, double q) => Quantile(values.Select(v => (double)v).ToArray(), q);

    private static double Quantile(double[] values, double q)
    {
        if (values.Length == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(q * sorted.Length))];
    }
}
