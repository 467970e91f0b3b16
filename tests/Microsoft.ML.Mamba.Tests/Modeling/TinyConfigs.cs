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
}
