namespace Microsoft.ML.Mamba.Examples.TabularText;

/// <summary>One e-mail as a table row: two text columns, a few numbers and a category, and the label.</summary>
public sealed class EmailRow
{
    public string Subject { get; set; } = "";
    public string Body { get; set; } = "";
    /// <summary>The Content-Type header's media type, for example text/plain (a categorical column).</summary>
    public string ContentType { get; set; } = "";
    public bool HasHtml { get; set; }
    public float LinkCount { get; set; }
    public float BodyLength { get; set; }
    public bool IsSpam { get; set; }
}
