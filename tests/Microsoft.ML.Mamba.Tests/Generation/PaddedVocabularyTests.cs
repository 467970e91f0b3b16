using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Generation;

/// <summary>
/// A model whose embeddings are padded past the tokenizer's vocabulary (the pretraining example pads the byte
/// tokenizer's 259 ids to 264; mamba-130m pads 50,277 to 50,280) never generates a padding id.
/// </summary>
[Collection(nameof(SeededTraining))]   // its check that the padding rows would win needs the seeded weights exactly
public class PaddedVocabularyTests
{
    [Fact]
    public void PaddingEmbeddingsAreNeverChosen()
    {
        var tokenizer = MambaTokenizers.Bytes();
        using var model = GenerationModels.Tiny(seed: 3, vocab: 264);
        using (no_grad())
        {
            // Make the padding rows the most likely next tokens: greedy and sampling would pick them if allowed.
            var embeddings = model.OutputEmbeddings;
            embeddings.narrow(0, 259, 5).copy_(embeddings.narrow(0, 0, 259).mean(new long[] { 0 }, keepdim: true).expand(5, -1) * 50);
        }
        var generator = new MambaGenerator(model, tokenizer);
        var greedy = generator.Generate("abc", SamplingOptions.Greedy(20), TestContext.Current.CancellationToken);
        var sampled = generator.Generate("abc", new SamplingOptions { Seed = 1, MaxNewTokens = 20 }, TestContext.Current.CancellationToken);
        Assert.All(greedy.TokenIds.Concat(sampled.TokenIds), id => Assert.InRange(id, 0, 258));

        // Without the limit the loop does choose them: the test would catch a regression.
        var loop = new GenerationLoop(model);
        var unrestricted = loop.Run([tokenizer.Encode("abc").ToArray()], SamplingOptions.Greedy(5), new HashSet<int>(), null, TestContext.Current.CancellationToken);
        Assert.Contains(unrestricted[0].TokenIds, id => id >= 259);
    }
}
