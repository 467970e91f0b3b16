using Microsoft.ML.Mamba.Checkpoints;
using TorchSharp;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

/// <summary>Reads files written by Python's safetensors (through transformers), not by this library.</summary>
public class HuggingFaceFixtureTests
{
    private static readonly string FixtureDirectory = Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba");

    [Fact]
    public void ModelWeightsHaveTheExpectedNamesTypesAndShapes()
    {
        var tensors = SafeTensorsDirectory.Load(FixtureDirectory);
        try
        {
            Assert.Equal(2 + 3 * 10, tensors.Count);
            Assert.All(tensors.Values, tensor => Assert.Equal(torch.ScalarType.Float32, tensor.dtype));
            Assert.Equal(new long[] { 101, 48 }, tensors["backbone.embeddings.weight"].shape);
            Assert.Equal(new long[] { 48 }, tensors["backbone.norm_f.weight"].shape);
            for (int layer = 0; layer < 3; layer++)
            {
                string prefix = $"backbone.layers.{layer}.";
                Assert.Equal(new long[] { 192, 48 }, tensors[prefix + "mixer.in_proj.weight"].shape);
                Assert.Equal(new long[] { 96, 1, 4 }, tensors[prefix + "mixer.conv1d.weight"].shape);
                Assert.Equal(new long[] { 96 }, tensors[prefix + "mixer.conv1d.bias"].shape);
                Assert.Equal(new long[] { 35, 96 }, tensors[prefix + "mixer.x_proj.weight"].shape);
                Assert.Equal(new long[] { 96, 3 }, tensors[prefix + "mixer.dt_proj.weight"].shape);
                Assert.Equal(new long[] { 96 }, tensors[prefix + "mixer.dt_proj.bias"].shape);
                Assert.Equal(new long[] { 96, 16 }, tensors[prefix + "mixer.A_log"].shape);
                Assert.Equal(new long[] { 96 }, tensors[prefix + "mixer.D"].shape);
                Assert.Equal(new long[] { 48, 96 }, tensors[prefix + "mixer.out_proj.weight"].shape);
                Assert.Equal(new long[] { 48 }, tensors[prefix + "norm.weight"].shape);
            }

            // Values read in Python with struct.unpack from the same bytes.
            var embedding = tensors["backbone.embeddings.weight"].data<float>();
            Assert.Equal(0.010606609284877777f, embedding[0]);
            Assert.Equal(0.029415369033813477f, embedding[1]);
            Assert.Equal(-0.13092078268527985f, embedding[2]);
            Assert.Equal("pt", SafeTensorsFile.ReadMetadata(Path.Combine(FixtureDirectory, "model.safetensors"))["format"]);
        }
        finally
        {
            SafeTensorsFileTests.DisposeAll(tensors);
        }
    }

    [Fact]
    public void ExpectedOutputsHaveTheExpectedNamesTypesAndShapes()
    {
        var tensors = SafeTensorsFile.Load(Path.Combine(FixtureDirectory, "expected.safetensors"));
        try
        {
            Assert.Equal(["greedy_output", "greedy_prompt", "input_ids", "logits"], tensors.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(torch.ScalarType.Int64, tensors["input_ids"].dtype);
            Assert.Equal(new long[] { 3, 13 }, tensors["input_ids"].shape);
            Assert.Equal(torch.ScalarType.Float32, tensors["logits"].dtype);
            Assert.Equal(new long[] { 3, 13, 101 }, tensors["logits"].shape);
            Assert.Equal(torch.ScalarType.Int64, tensors["greedy_prompt"].dtype);
            Assert.Equal(new long[] { 1, 7 }, tensors["greedy_prompt"].shape);
            Assert.Equal(torch.ScalarType.Int64, tensors["greedy_output"].dtype);
            Assert.Equal(new long[] { 1, 19 }, tensors["greedy_output"].shape);

            Assert.Equal(new long[] { 22, 9, 72, 67, 4, 28, 44, 88, 13, 20, 13, 44, 19 }, tensors["input_ids"][0].data<long>().ToArray());
            Assert.Equal(new long[] { 22, 9, 72, 67, 4, 28, 44 }, tensors["greedy_prompt"].data<long>().ToArray());
            Assert.Equal(-0.06889840215444565f, tensors["logits"][0, 0, 0].item<float>());
        }
        finally
        {
            SafeTensorsFileTests.DisposeAll(tensors);
        }
    }

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("expected.safetensors")]
    public void ResavedFixtureIsByteIdenticalToThePythonFile(string fileName)
    {
        // Python's writer orders by dtype then name; in these files that coincides with name order, which is
        // what Save uses, so re-saving with the same metadata must reproduce the original bytes exactly.
        string original = Path.Combine(FixtureDirectory, fileName);
        var tensors = SafeTensorsFile.Load(original);
        string copy = Path.Combine(Path.GetTempPath(), "mamba-resave-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            SafeTensorsFile.Save(copy, tensors, SafeTensorsFile.ReadMetadata(original));
            Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(copy));
        }
        finally
        {
            File.Delete(copy);
            SafeTensorsFileTests.DisposeAll(tensors);
        }
    }
}
