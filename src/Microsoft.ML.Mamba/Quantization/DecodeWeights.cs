namespace Microsoft.ML.Mamba.Quantization;

/// <summary>
/// How CPU decoding stores the large projections (in_proj and out_proj, Mamba-1's x_proj, the vocabulary projection) that every
/// generated token reads once: a step at small batch is bound by reading them, so fewer bytes per weight means more
/// tokens per second. Activations, the recurrent state and all sums stay fp32; prompts (prefill) always run on the
/// model's own fp32 weights. Set with <see cref="Modeling.MambaForCausalLM.PrepareDecodeWeights"/>.
/// </summary>
public enum DecodeWeights
{
    /// <summary>The model's own weights (4 bytes each): exact.</summary>
    Float32,

    /// <summary>A bf16 copy (2 bytes each): 8 mantissa bits, round to nearest even.</summary>
    BFloat16,

    /// <summary>
    /// An int8 copy with one fp32 scale per output row (symmetric, round to nearest; about 1 byte each): weight-only
    /// quantization, each weight within half a step (max |row| / 254) of its fp32 value.
    /// </summary>
    Int8,
}
