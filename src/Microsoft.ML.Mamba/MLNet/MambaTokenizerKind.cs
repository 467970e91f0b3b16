namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Which tokenizer turns the row text into token ids.</summary>
public enum MambaTokenizerKind
{
    /// <summary>UTF-8 bytes: small vocabulary, long sequences, no files needed.</summary>
    Bytes,
    /// <summary>GPT-2 byte-pair encoding (the vocabulary of the EleutherAI/state-spaces Mamba checkpoints uses the GPT-NeoX one; see <see cref="HuggingFace"/>).</summary>
    Gpt2,
    /// <summary>A Hugging Face <c>tokenizer.json</c>, read from <see cref="MambaTrainerOptions.TokenizerPath"/> (or the checkpoint folder).</summary>
    HuggingFace,
}
