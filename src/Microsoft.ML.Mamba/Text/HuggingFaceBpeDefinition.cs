using System.Text;

namespace Microsoft.ML.Mamba.Text;

/// <summary>Everything needed to build a byte-level BPE tokenizer, as read from Hugging Face files.</summary>
/// <param name="Vocabulary">The BPE vocabulary: token (in the byte-level alphabet) to id.</param>
/// <param name="Merges">The merge rules, highest priority first, each as "left right".</param>
/// <param name="AddedTokens">Tokens matched whole in the input before BPE runs (for example <c>&lt;|endoftext|&gt;</c>), with their ids.</param>
/// <param name="Normalization">The Unicode normalization applied before encoding, or null for none.</param>
/// <param name="PadTokenId">The padding id, if known.</param>
/// <param name="BosTokenId">The beginning-of-sequence id, if known.</param>
/// <param name="EosTokenId">The end-of-sequence id, if known.</param>
internal sealed record HuggingFaceBpeDefinition(
    Dictionary<string, int> Vocabulary,
    List<string> Merges,
    Dictionary<string, int> AddedTokens,
    NormalizationForm? Normalization,
    int? PadTokenId,
    int? BosTokenId,
    int? EosTokenId);
