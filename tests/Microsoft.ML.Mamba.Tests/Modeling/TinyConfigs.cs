using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.Modeling;

internal static class TinyConfigs
{
    /// <summary>A model small enough to run thousands of times in a test.</summary>
    public static MambaConfig Tiny(int vocab = 37, bool tied = true) => new()
    {
        VocabSize = vocab, HiddenSize = 16, StateSize = 4, NumHiddenLayers = 2, Expand = 2, ConvKernel = 4,
        TieWordEmbeddings = tied,
    };

    /// <summary>A tiny Mamba-2 model: 8 heads of 4 channels in 2 groups, state 4, chunks of 4 (so a dozen tokens span chunks).</summary>
    public static MambaConfig TinyMamba2(int vocab = 37, bool tied = true, bool normPerGroup = false) => new()
    {
        Architecture = MambaArchitecture.Mamba2, VocabSize = vocab, HiddenSize = 16, StateSize = 4, NumHiddenLayers = 2,
        Expand = 2, ConvKernel = 4, HeadDim = 4, NGroups = 2, ChunkSize = 4, TieWordEmbeddings = tied, NormPerGroup = normPerGroup,
    };
}
