using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// A model's parameter count, split into the token embedding and the rest. With the tied embedding of an 8,192-token
/// vocabulary the embedding dominates small models, so comparisons "at equal parameters" look at both.
/// </summary>
public sealed record ModelSize(long Total, long Embedding)
{
    /// <summary>Parameters outside the token embedding (the mixers, norms and, untied, an output head).</summary>
    public long NonEmbedding => Total - Embedding;

    public static ModelSize Of(MambaForCausalLM model) => new(
        model.parameters().Sum(p => p.numel()),
        model.Backbone.embeddings.weight!.numel());
}
