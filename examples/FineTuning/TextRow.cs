namespace Microsoft.ML.Mamba.Examples.FineTuning;

/// <summary>A row of the one-text-column sets (UCI sentences, fine-food reviews): the text and a boolean label.</summary>
public sealed class TextRow
{
    public string Text { get; set; } = "";
    public bool Label { get; set; }
}
