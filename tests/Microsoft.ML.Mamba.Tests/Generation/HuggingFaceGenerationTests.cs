using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Checkpoints;

namespace Microsoft.ML.Mamba.Tests.Generation;

/// <summary>Greedy generation against Hugging Face transformers' generate() on the tiny fixture checkpoint.</summary>
public class HuggingFaceGenerationTests
{
    [Fact]
    public void GreedyContinuationEqualsHuggingFaceTokens()
    {
        var expected = SafeTensorsFile.Load(Path.Combine(HuggingFaceParityTests.Fixture, "expected.safetensors"));
        var prompt = expected["greedy_prompt"][0].data<long>().Select(t => (int)t).ToArray();
        var hf = expected["greedy_output"][0].data<long>().Select(t => (int)t).ToArray();   // prompt + 12 new tokens
        var model = MambaForCausalLM.FromPretrained(HuggingFaceParityTests.Fixture);
        var loop = new GenerationLoop(model);

        var alone = loop.Run([prompt], SamplingOptions.Greedy(hf.Length - prompt.Length), cancellationToken: TestContext.Current.CancellationToken)[0];
        Assert.Equal(hf, prompt.Concat(alone.TokenIds));

        // Left-padded next to a longer prompt (and a shorter one that stops early), the result is the same.
        var options = SamplingOptions.Greedy(hf.Length - prompt.Length);
        int[] longer = [5, 17, 33, 2, 90, 64, 11, 3, 8, 41, 77], shorter = [9, 9];
        var batch = loop.Run([longer, prompt, shorter], options, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(hf, prompt.Concat(batch[1].TokenIds));
    }
}
