using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Network configurations for <see cref="MambaModelSize"/> when training from scratch.</summary>
internal static class MambaModelPresets
{
    public static MambaConfig Create(MambaModelSize size, IMambaTokenizer tokenizer)
    {
        var (hidden, layers, state) = size switch
        {
            MambaModelSize.Tiny => (64, 2, 8),
            MambaModelSize.Small => (128, 4, 16),
            _ => (256, 8, 16),
        };
        return WithTokenizer(new MambaConfig
        {
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            StateSize = state,
            Expand = 2,
            ConvKernel = 4,
            LayerNormEpsilon = 1e-5,
            UseBias = false,
            UseConvBias = true,
            ResidualInFp32 = true,
            TieWordEmbeddings = true,
        }, tokenizer);
    }

    /// <summary>A copy of <paramref name="config"/> with the tokenizer's vocabulary size and special tokens.</summary>
    public static MambaConfig WithTokenizer(MambaConfig config, IMambaTokenizer tokenizer)
    {
        var copy = config.Clone();
        copy.VocabSize = tokenizer.VocabularySize;
        copy.PadTokenId = tokenizer.PadTokenId;
        copy.BosTokenId = tokenizer.BosTokenId;
        copy.EosTokenId = tokenizer.EosTokenId;
        copy.Validate();
        return copy;
    }
}
