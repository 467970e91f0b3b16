namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>Settings for <see cref="PretrainingData.Prepare(IEnumerable{string}, Text.IMambaTokenizer, string, PretrainingDataOptions?)"/>.</summary>
public sealed class PretrainingDataOptions
{
    /// <summary>Threads that tokenize at once. Default: the number of processors.</summary>
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>Texts handed to a worker at a time. Default 256.</summary>
    public int ChunkSize { get; set; } = 256;

    /// <summary>
    /// Share of the documents kept out of training for held-out perplexity: every n-th document with n = round(1 / fraction),
    /// so the split is the same on every run and no document is in both files. 0 = none. Default 0.01.
    /// </summary>
    public double HeldOutFraction { get; set; } = 0.01;

    /// <summary>Recorded in the files' headers; default <see cref="PretrainingData.TokenizerIdentity"/> of the tokenizer.</summary>
    public string? TokenizerIdentity { get; set; }

    /// <summary>Receives the number of documents tokenized so far, every chunk.</summary>
    public IProgress<long>? Progress { get; set; }

    /// <summary>Checked between chunks.</summary>
    public CancellationToken CancellationToken { get; set; }

    // Test hook: called with the running document count each time a document has been written.
    internal Action<long>? DocumentWritten { get; set; }

    internal void Validate()
    {
        if (Workers < 1) throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "must be ≥ 1");
        if (ChunkSize < 1) throw new ArgumentOutOfRangeException(nameof(ChunkSize), ChunkSize, "must be ≥ 1");
        if (!(HeldOutFraction >= 0 && HeldOutFraction <= 0.5)) throw new ArgumentOutOfRangeException(nameof(HeldOutFraction), HeldOutFraction, "must be in [0, 0.5]");
    }
}
