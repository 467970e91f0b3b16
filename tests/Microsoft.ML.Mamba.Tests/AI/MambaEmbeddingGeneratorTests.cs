using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Tests.Generation;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.AI;

public class MambaEmbeddingGeneratorTests
{
    private static readonly IMambaTokenizer Bytes = MambaTokenizers.Bytes();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EmbeddingsHaveTheHiddenSizeUnitLengthAndAreDeterministic()
    {
        var model = GenerationModels.Tiny(51, vocab: Bytes.VocabularySize);
        using var generator = new MambaEmbeddingGenerator(model, Bytes, new MambaEmbeddingOptions { ModelId = "tiny", BatchSize = 2 });
        var first = await generator.GenerateAsync(["a cat", "a dog", ""], cancellationToken: Ct);
        var again = await generator.GenerateAsync(["a cat", "a dog", ""], cancellationToken: Ct);

        Assert.Equal(3, first.Count);
        Assert.All(first, e => Assert.Equal(model.Config.HiddenSize, e.Vector.Length));
        Assert.All(first, e => Assert.Equal(1.0, Math.Sqrt(e.Vector.ToArray().Sum(v => (double)v * v)), 4));
        Assert.All(first.Zip(again), p => Assert.Equal(p.First.Vector.ToArray(), p.Second.Vector.ToArray()));
        Assert.NotEqual(first[0].Vector.ToArray(), first[1].Vector.ToArray());
        Assert.Equal(5 + 5 + 1, first.Usage!.InputTokenCount);
        Assert.Equal("tiny", first[0].ModelId);
        Assert.Equal(model.Config.HiddenSize, generator.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelDimensions);
    }

    [Fact]
    public async Task PaddingDoesNotChangeAnEmbeddingAndTheMeanSkipsIt()
    {
        var model = GenerationModels.Tiny(52, vocab: Bytes.VocabularySize);
        using var generator = new MambaEmbeddingGenerator(model, Bytes, new MambaEmbeddingOptions { Normalize = false });
        var alone = (await generator.GenerateAsync(["ab"], cancellationToken: Ct))[0].Vector.ToArray();
        var batched = (await generator.GenerateAsync(["ab", "a much longer text than ab"], cancellationToken: Ct))[0].Vector.ToArray();
        for (int i = 0; i < alone.Length; i++) Assert.Equal(alone[i], batched[i], 5);

        // The mean of the backbone's final hidden states over the two tokens, computed directly.
        using var _ = no_grad();
        var hidden = model.Backbone.forward(tensor(new long[] { 'a', 'b' }).unsqueeze(0), null);
        var expected = TensorData.Flat(hidden[0].mean([0]));
        for (int i = 0; i < alone.Length; i++) Assert.Equal(expected[i], alone[i], 5);
    }

    [Fact]
    public async Task OtherDimensionsAreNotSupported()
    {
        var model = GenerationModels.Tiny(53, vocab: Bytes.VocabularySize);
        using var generator = new MambaEmbeddingGenerator(model, Bytes);
        await Assert.ThrowsAsync<NotSupportedException>(() =>
            generator.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = model.Config.HiddenSize + 1 }, Ct));
    }
}
