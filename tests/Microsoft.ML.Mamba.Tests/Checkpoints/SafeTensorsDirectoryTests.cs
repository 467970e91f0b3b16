using System.Text.Json;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using TorchSharp;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

public class SafeTensorsDirectoryTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Five tensors of 40, 24, 8, 100 and 16 bytes, in name order.</summary>
    private static Dictionary<string, torch.Tensor> SampleTensors() => new()
    {
        ["a.weight"] = SafeTensorsFileTests.RandomTensor(torch.ScalarType.Float32, [2, 5], seed: 1),
        ["b.bias"] = SafeTensorsFileTests.RandomTensor(torch.ScalarType.BFloat16, [12], seed: 2),
        ["c.ids"] = SafeTensorsFileTests.RandomTensor(torch.ScalarType.Int64, [1], seed: 3),
        ["d.big"] = SafeTensorsFileTests.RandomTensor(torch.ScalarType.Float32, [25], seed: 4),
        ["e.mask"] = SafeTensorsFileTests.RandomTensor(torch.ScalarType.Bool, [4, 4], seed: 5),
    };

    [Fact]
    public void ShardedSaveAndLoadRoundTrip()
    {
        var tensors = SampleTensors();

        var written = SafeTensorsDirectory.SaveSharded(_temp.Path, tensors, maxShardBytes: 64);

        // 40+24 fill the first shard, 8 starts the second, 100 exceeds the limit alone, 16 follows it.
        Assert.Equal(
            ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
             "model-00004-of-00004.safetensors", "model.safetensors.index.json"],
            written);
        Assert.Equal(written.Order(StringComparer.Ordinal), Directory.GetFiles(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        using (var index = JsonDocument.Parse(File.ReadAllText(_temp.File("model.safetensors.index.json"))))
        {
            Assert.Equal(188, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
            var map = index.RootElement.GetProperty("weight_map");
            Assert.Equal("model-00001-of-00004.safetensors", map.GetProperty("a.weight").GetString());
            Assert.Equal("model-00001-of-00004.safetensors", map.GetProperty("b.bias").GetString());
            Assert.Equal("model-00002-of-00004.safetensors", map.GetProperty("c.ids").GetString());
            Assert.Equal("model-00003-of-00004.safetensors", map.GetProperty("d.big").GetString());
            Assert.Equal("model-00004-of-00004.safetensors", map.GetProperty("e.mask").GetString());
        }

        var loaded = SafeTensorsDirectory.Load(_temp.Path);
        Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(tensor.dtype, loaded[name].dtype);
            Assert.Equal(tensor.shape, loaded[name].shape);
            Assert.Equal(tensor.bytes.ToArray(), loaded[name].bytes.ToArray());
        }

        SafeTensorsFileTests.DisposeAll(tensors);
        SafeTensorsFileTests.DisposeAll(loaded);
    }

    [Fact]
    public void EverythingInOneShardIsSavedAsModelSafetensorsAndStaleFilesGo()
    {
        var tensors = SampleTensors();
        SafeTensorsDirectory.SaveSharded(_temp.Path, tensors, maxShardBytes: 64);

        var written = SafeTensorsDirectory.SaveSharded(_temp.Path, tensors, maxShardBytes: 1 << 20, new Dictionary<string, string> { ["format"] = "pt" });

        Assert.Equal(["model.safetensors"], written);
        Assert.Equal(["model.safetensors"], Directory.GetFiles(_temp.Path).Select(Path.GetFileName));
        Assert.Equal("pt", SafeTensorsFile.ReadMetadata(_temp.File("model.safetensors"))["format"]);
        var loaded = SafeTensorsDirectory.Load(_temp.Path);
        Assert.Equal(5, loaded.Count);
        SafeTensorsFileTests.DisposeAll(tensors);
        SafeTensorsFileTests.DisposeAll(loaded);
    }

    [Fact]
    public void MissingShardFileIsNamed()
    {
        var tensors = SampleTensors();
        SafeTensorsDirectory.SaveSharded(_temp.Path, tensors, maxShardBytes: 64);
        File.Delete(_temp.File("model-00003-of-00004.safetensors"));

        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsDirectory.Load(_temp.Path));

        Assert.Contains("model-00003-of-00004.safetensors", error.Message);
        Assert.Contains("d.big", error.Message);
        Assert.Contains("model.safetensors.index.json", error.Message);
        SafeTensorsFileTests.DisposeAll(tensors);
    }

    [Fact]
    public void IndexThatListsATensorTheShardLacks()
    {
        using var tensor = torch.zeros(1);
        SafeTensorsFile.Save(_temp.File("shard.safetensors"), new Dictionary<string, torch.Tensor> { ["x"] = tensor });
        File.WriteAllText(_temp.File("model.safetensors.index.json"),
            """{"metadata":{},"weight_map":{"x":"shard.safetensors","y":"shard.safetensors"}}""");

        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsDirectory.Load(_temp.Path));
        Assert.Contains("'y'", error.Message);
        Assert.Contains("shard.safetensors", error.Message);
    }

    [Fact]
    public void ShardHoldingATensorTheIndexDoesNotList()
    {
        using var tensor = torch.zeros(1);
        SafeTensorsFile.Save(_temp.File("shard.safetensors"), new Dictionary<string, torch.Tensor> { ["x"] = tensor, ["z"] = tensor });
        File.WriteAllText(_temp.File("model.safetensors.index.json"), """{"weight_map":{"x":"shard.safetensors"}}""");

        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsDirectory.Load(_temp.Path));
        Assert.Contains("'z'", error.Message);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("""{"metadata":{}}""")]
    [InlineData("""{"weight_map":{"x":"../elsewhere.safetensors"}}""")]
    [InlineData("""{"weight_map":{"x":3}}""")]
    public void MalformedIndexIsNamed(string index)
    {
        File.WriteAllText(_temp.File("model.safetensors.index.json"), index);
        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsDirectory.Load(_temp.Path));
        Assert.Contains(_temp.File("model.safetensors.index.json"), error.Message);
    }

    [Fact]
    public void DirectoryWithoutWeightsThrowsFileNotFound()
    {
        var error = Assert.Throws<FileNotFoundException>(() => SafeTensorsDirectory.Load(_temp.Path));
        Assert.Contains(_temp.Path, error.Message);
    }

    [Fact]
    public void NonPositiveShardSizeIsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            SafeTensorsDirectory.SaveSharded(_temp.Path, new Dictionary<string, torch.Tensor>(), maxShardBytes: 0));
    }
}
