using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using TorchSharp;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

public class SafeTensorsFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<torch.ScalarType> AllDTypes =>
    [
        torch.ScalarType.Float64, torch.ScalarType.Float32, torch.ScalarType.Float16, torch.ScalarType.BFloat16,
        torch.ScalarType.Int64, torch.ScalarType.Int32, torch.ScalarType.Int16, torch.ScalarType.Int8,
        torch.ScalarType.Byte, torch.ScalarType.Bool,
    ];

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void EveryDTypeRoundTripsBitExactly(torch.ScalarType type)
    {
        using var original = RandomTensor(type, [3, 5, 7], seed: (int)type);
        string path = _temp.File("one.safetensors");

        SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["weight"] = original });
        var loaded = SafeTensorsFile.Load(path);

        using var tensor = Assert.Single(loaded).Value;
        Assert.Equal(type, tensor.dtype);
        Assert.Equal(new long[] { 3, 5, 7 }, tensor.shape);
        Assert.Equal(original.bytes.ToArray(), tensor.bytes.ToArray());
    }

    [Fact]
    public void HalfPrecisionSpecialValuesSurviveBitExactly()
    {
        // NaN payloads, infinities, negative zero and subnormals are where a lossy conversion would show.
        ushort[] patterns = [0x7FC1, 0xFF80, 0x7F80, 0x8000, 0x0001, 0x3F80, 0xFFFF, 0x7C01];
        var tensors = new Dictionary<string, torch.Tensor>
        {
            ["bf16"] = FromBytes(torch.ScalarType.BFloat16, [patterns.Length], AsBytes(patterns)),
            ["f16"] = FromBytes(torch.ScalarType.Float16, [patterns.Length], AsBytes(patterns)),
        };
        string path = _temp.File("half.safetensors");

        SafeTensorsFile.Save(path, tensors);
        var loaded = SafeTensorsFile.Load(path);

        foreach (var name in tensors.Keys)
        {
            Assert.Equal(AsBytes(patterns), loaded[name].bytes.ToArray());
        }

        DisposeAll(tensors);
        DisposeAll(loaded);
    }

    [Fact]
    public void WrittenFileHasTheLayoutOfThePythonWriter()
    {
        var tensors = new Dictionary<string, torch.Tensor>
        {
            ["b"] = torch.tensor(new float[] { 1f, 2f }),
            ["a"] = torch.tensor(new sbyte[] { 7 }),
        };
        string path = _temp.File("layout.safetensors");

        SafeTensorsFile.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        byte[] file = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, headerLength % 8);
        string header = Encoding.UTF8.GetString(file, 8, (int)headerLength);
        Assert.Equal(
            """{"__metadata__":{"format":"pt"},"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}""",
            header.TrimEnd(' '));
        Assert.Equal(8 + (int)headerLength + 9, file.Length);
        byte[] data = file[(8 + (int)headerLength)..];
        Assert.Equal(new byte[] { 7, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40 }, data);
        DisposeAll(tensors);
    }

    [Fact]
    public void EmptyAndScalarTensorsRoundTrip()
    {
        var tensors = new Dictionary<string, torch.Tensor>
        {
            ["empty"] = torch.empty([0, 4], torch.ScalarType.Float32),
            ["empty_bf16"] = torch.empty([2, 0], torch.ScalarType.BFloat16),
            ["scalar"] = torch.tensor(3.25),
            ["scalar_bool"] = torch.tensor(true),
            ["after"] = torch.tensor(new long[] { 5, 6 }),
        };
        string path = _temp.File("odd-shapes.safetensors");

        SafeTensorsFile.Save(path, tensors);
        var loaded = SafeTensorsFile.Load(path, torch.CPU);

        Assert.All(loaded.Values, tensor => Assert.Equal(DeviceType.CPU, tensor.device_type));
        Assert.Equal(new long[] { 0, 4 }, loaded["empty"].shape);
        Assert.Equal(new long[] { 2, 0 }, loaded["empty_bf16"].shape);
        Assert.Equal(torch.ScalarType.BFloat16, loaded["empty_bf16"].dtype);
        Assert.Empty(loaded["scalar"].shape);
        Assert.Equal(3.25, loaded["scalar"].item<double>());
        Assert.Empty(loaded["scalar_bool"].shape);
        Assert.True(loaded["scalar_bool"].item<bool>());
        Assert.Equal(new long[] { 5, 6 }, loaded["after"].data<long>().ToArray());
        DisposeAll(tensors);
        DisposeAll(loaded);
    }

    [Fact]
    public void EmptyDictionaryMakesAValidFile()
    {
        string path = _temp.File("nothing.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor>());
        Assert.Empty(SafeTensorsFile.Load(path));
    }

    [Fact]
    public void MetadataRoundTripsAndIsEmptyWhenAbsent()
    {
        using var tensor = torch.ones(2);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓" };
        string with = _temp.File("with.safetensors");
        string without = _temp.File("without.safetensors");

        SafeTensorsFile.Save(with, new Dictionary<string, torch.Tensor> { ["x"] = tensor }, metadata);
        SafeTensorsFile.Save(without, new Dictionary<string, torch.Tensor> { ["x"] = tensor });

        Assert.Equal(metadata, SafeTensorsFile.ReadMetadata(with));
        Assert.Empty(SafeTensorsFile.ReadMetadata(without));
    }

    [Fact]
    public void NonContiguousTensorIsSavedInLogicalOrder()
    {
        using var matrix = torch.arange(6, dtype: torch.ScalarType.Float32).view(2, 3);
        using var transposed = matrix.t();
        Assert.False(transposed.is_contiguous());
        string path = _temp.File("transposed.safetensors");

        SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["t"] = transposed });
        using var loaded = SafeTensorsFile.Load(path)["t"];

        Assert.Equal(new long[] { 3, 2 }, loaded.shape);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, loaded.data<float>().ToArray());
    }

    [Fact]
    public void LargeTensorsAreCopiedInChunksCorrectly()
    {
        // The chunked path normally starts at 1 GiB; a tiny chunk size exercises it with a small tensor.
        using var original = RandomTensor(torch.ScalarType.Float32, [5, 7], seed: 11);
        using var stream = new MemoryStream();

        TensorBytes.WriteFrom(stream, original, elementSize: 4, chunkBytes: 12);
        Assert.Equal(original.bytes.ToArray(), stream.ToArray());

        stream.Position = 0;
        using var copy = torch.empty([5, 7], torch.ScalarType.Float32);
        TensorBytes.ReadInto(stream, copy, elementSize: 4, chunkBytes: 12);
        Assert.Equal(original.bytes.ToArray(), copy.bytes.ToArray());
    }

    [Fact]
    public void SaveReplacesAnExistingFile()
    {
        string path = _temp.File("replace.safetensors");
        File.WriteAllText(path, "old contents that are much longer than the new file will be, to catch leftovers");
        using var tensor = torch.zeros(1);

        SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["x"] = tensor });

        Assert.Equal(new long[] { 1 }, SafeTensorsFile.Load(path)["x"].shape);
        Assert.Single(Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void SaveRejectsReservedNameAndUnsupportedDType()
    {
        using var tensor = torch.zeros(1);
        using var complex = torch.zeros(1, dtype: torch.ScalarType.ComplexFloat32);
        string path = _temp.File("bad.safetensors");

        var reserved = Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["__metadata__"] = tensor }));
        Assert.Contains("__metadata__", reserved.Message);

        var unsupported = Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["z"] = complex }));
        Assert.Contains("'z'", unsupported.Message);
        Assert.Empty(Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void SaveRejectsNamesThatOnlyACaseInsensitiveDictionaryConsidersDistinct()
    {
        // Keys unique under the dictionary's comparer are still unique ordinally, so this must succeed...
        using var tensor = torch.zeros(1);
        var tensors = new Dictionary<string, torch.Tensor>(StringComparer.OrdinalIgnoreCase) { ["x"] = tensor };
        SafeTensorsFile.Save(_temp.File("ok.safetensors"), tensors);

        // ...while an empty name never is.
        Assert.Throws<ArgumentException>(() =>
            SafeTensorsFile.Save(_temp.File("empty-name.safetensors"), new Dictionary<string, torch.Tensor> { [""] = tensor }));
    }

    [Fact]
    public void LoadOfAMissingFileThrowsFileNotFound()
    {
        string path = _temp.File("absent.safetensors");
        var error = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Load(path));
        Assert.Contains("absent.safetensors", error.Message);
    }

    internal static torch.Tensor RandomTensor(torch.ScalarType type, long[] shape, int seed)
    {
        var tensor = torch.empty(shape, type);
        var bytes = tensor.bytes;
        new Random(seed).NextBytes(bytes);
        if (type == torch.ScalarType.Bool)
        {
            // Only 0 and 1 are valid booleans.
            for (int i = 0; i < bytes.Length; i++)
            {
                bytes[i] &= 1;
            }
        }

        return tensor;
    }

    internal static torch.Tensor FromBytes(torch.ScalarType type, long[] shape, byte[] bytes)
    {
        var tensor = torch.empty(shape, type);
        bytes.CopyTo(tensor.bytes);
        return tensor;
    }

    private static byte[] AsBytes(ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        }

        return bytes;
    }

    internal static void DisposeAll(Dictionary<string, torch.Tensor> tensors)
    {
        foreach (var tensor in tensors.Values)
        {
            tensor.Dispose();
        }
    }
}
