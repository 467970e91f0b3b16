using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.AI;

/// <summary>
/// Text embeddings from a Mamba backbone as a Microsoft.Extensions.AI <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>:
/// the mean of the final (normed) hidden states over each text's tokens, optionally scaled to unit length.
/// Dimensions = the model's hidden size.
/// </summary>
/// <remarks>
/// Texts are batched right-padded with an attention mask; the model is causal, so padding after a text cannot change
/// its hidden states, and the mean skips the padded positions. An empty text is embedded from the tokenizer's BOS token.
/// </remarks>
public sealed class MambaEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly MambaModel _backbone;
    private readonly MambaEmbeddingOptions _options;

    /// <param name="model">The language model whose backbone embeds.</param>
    /// <param name="tokenizer">The tokenizer it was trained with.</param>
    /// <param name="options">Pooling and batching settings; null for the defaults.</param>
    /// <exception cref="ArgumentException">The tokenizer has more ids than the model has embeddings.</exception>
    public MambaEmbeddingGenerator(MambaForCausalLM model, IMambaTokenizer tokenizer, MambaEmbeddingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        MambaLanguageModelFolder.CheckFits(model, tokenizer);
        _options = options ?? new MambaEmbeddingOptions();
        if (_options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), _options.BatchSize, "MambaEmbeddingOptions.BatchSize must be ≥ 1.");
        if (_options.MaxSequenceLength < 1)
            throw new ArgumentOutOfRangeException(nameof(options), _options.MaxSequenceLength, $"MambaEmbeddingOptions.{nameof(MambaEmbeddingOptions.MaxSequenceLength)} must be ≥ 1.");
        _backbone = model.Backbone;
        Dimensions = model.Config.HiddenSize;
        Metadata = new EmbeddingGeneratorMetadata("Microsoft.ML.Mamba", null, _options.ModelId, Dimensions);
    }

    /// <summary>The tokenizer.</summary>
    public IMambaTokenizer Tokenizer { get; }

    /// <summary>The length of every embedding: the model's hidden size.</summary>
    public int Dimensions { get; }

    /// <summary>Provider name, model id and dimensions.</summary>
    public EmbeddingGeneratorMetadata Metadata { get; }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException"><paramref name="options"/> asks for other dimensions than the hidden size.</exception>
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is int dims && dims != Dimensions)
            throw new NotSupportedException($"This model's embeddings have {Dimensions} dimensions; {dims} were asked for.");
        var texts = values.ToList();
        var ids = texts.Select((t, i) => Encode(t ?? throw new ArgumentException($"Text {i} is null.", nameof(values)))).ToList();
        return Task.Run(() =>
        {
            var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
            var createdAt = DateTimeOffset.UtcNow;
            for (int start = 0; start < ids.Count; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var vector in Embed(ids.Skip(start).Take(_options.BatchSize).ToList()))
                    result.Add(new Embedding<float>(vector) { ModelId = _options.ModelId, CreatedAt = createdAt });
            }
            long tokens = ids.Sum(i => (long)i.Count);
            result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
            return result;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return Metadata;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Does nothing: the model belongs to the caller.</summary>
    public void Dispose() { }

    private IReadOnlyList<int> Encode(string text)
    {
        var ids = Tokenizer.Encode(text);
        if (ids.Count == 0)
        {
            return Tokenizer.BosTokenId is int bos ? [bos]
                : throw new ArgumentException("A text is empty and the tokenizer has no BOS token to embed instead.", "values");
        }
        return ids.Count > _options.MaxSequenceLength ? ids.Take(_options.MaxSequenceLength).ToArray() : ids;
    }

    // One right-padded batch → one float[] per row.
    private float[][] Embed(IReadOnlyList<IReadOnlyList<int>> batch)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int length = batch.Max(r => r.Count);
        int pad = Tokenizer.PadTokenId ?? 0;
        var tokens = new long[batch.Count * length];
        var mask = new float[batch.Count * length];
        for (int r = 0; r < batch.Count; r++)
        {
            for (int t = 0; t < length; t++)
            {
                bool real = t < batch[r].Count;
                tokens[r * length + t] = real ? batch[r][t] : pad;
                mask[r * length + t] = real ? 1f : 0f;
            }
        }
        var device = _backbone.norm_f.weight.device;
        var ids = tensor(tokens, [batch.Count, length], device: device);
        var maskTensor = tensor(mask, [batch.Count, length], device: device);
        var hidden = _backbone.forward(ids, maskTensor).to_type(ScalarType.Float32);
        var weights = maskTensor.unsqueeze(-1);
        var pooled = (hidden * weights).sum(1) / weights.sum(1);
        if (_options.Normalize) pooled = nn.functional.normalize(pooled, p: 2, dim: 1);
        var flat = pooled.cpu().data<float>().ToArray();
        return Enumerable.Range(0, batch.Count).Select(r => flat.AsSpan(r * Dimensions, Dimensions).ToArray()).ToArray();
    }
}
