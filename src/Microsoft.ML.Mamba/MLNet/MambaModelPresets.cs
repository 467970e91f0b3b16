using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>Network configurations for <see cref="MambaModelSize"/> when training from scratch.</summary>
internal static class MambaModelPresets
{
    /// <summary>
    /// The preset of <paramref name="size"/> for <paramref name="architecture"/>. Mamba-2's have the same widths and
    /// depths with a larger state (its state is per head, not per channel, so it costs less) and heads of 16, 32 or 64
    /// channels (8 heads each), one group, chunks of 64.
    /// </summary>
    public static MambaConfig Create(MambaModelSize size, IMambaTokenizer tokenizer, MambaArchitecture architecture = MambaArchitecture.Mamba1)
    {
        if (architecture == MambaArchitecture.Mamba2) return CreateMamba2(size, tokenizer);
        var (hidden, layers, state) = size switch
        {
            MambaModelSize.Tiny => (64, 2, 8),
            MambaModelSize.Small => (128, 4, 16),
            _ => (256, 8, 16),
        };
        return WithTokenizer(Shared(hidden, layers, state), tokenizer);
    }

    private static MambaConfig CreateMamba2(MambaModelSize size, IMambaTokenizer tokenizer)
    {
        var (hidden, layers, state, headDim) = size switch
        {
            MambaModelSize.Tiny => (64, 2, 16, 16),
            MambaModelSize.Small => (128, 4, 32, 32),
            _ => (256, 8, 64, 64),
        };
        var config = Shared(hidden, layers, state);
        config.Architecture = MambaArchitecture.Mamba2;
        config.HeadDim = headDim;
        config.NGroups = 1;
        config.ChunkSize = 64;
        return WithTokenizer(config, tokenizer);
    }

    // The settings both architectures' presets share: expand 2, conv of 4 with a bias, no linear biases, residual in
    // fp32, tied embeddings.
    private static MambaConfig Shared(int hidden, int layers, int state) => new()
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
    };

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
