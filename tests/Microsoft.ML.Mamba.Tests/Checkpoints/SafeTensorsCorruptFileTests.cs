using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Checkpoints;

/// <summary>Hand-made broken files: each must fail with a <see cref="MambaCheckpointException"/> naming the file and tensor.</summary>
public class SafeTensorsCorruptFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void FileShorterThanTheLengthPrefix()
    {
        string path = Write("short.safetensors", [1, 2, 3]);
        var error = LoadFails(path);
        Assert.Contains("too short", error.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheEndOfTheFile()
    {
        byte[] bytes = new byte[8 + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        string path = Write("long-header.safetensors", bytes);

        var error = LoadFails(path);
        Assert.Contains("1000", error.Message);
        Assert.Contains("past the end", error.Message);
    }

    [Fact]
    public void HeaderThatIsNotJson()
    {
        string path = Write("not-json.safetensors", File("{\"x\": {\"dtype\": \"F32\", ", []));
        var error = LoadFails(path);
        Assert.Contains("not valid JSON", error.Message);
        Assert.NotNull(error.InnerException);
    }

    [Fact]
    public void HeaderThatIsNotAnObject()
    {
        string path = Write("array.safetensors", File("[1, 2]", []));
        Assert.Contains("must be a JSON object", LoadFails(path).Message);
    }

    [Fact]
    public void UnknownDType()
    {
        string path = Write("dtype.safetensors", File("""{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""", new byte[2]));
        var error = LoadFails(path, "'w'");
        Assert.Contains("F8_E4M3", error.Message);
    }

    [Fact]
    public void DataOffsetsBeyondTheDataSection()
    {
        string path = Write("range.safetensors", File("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", new byte[8]));
        var error = LoadFails(path, "'w'");
        Assert.Contains("beyond", error.Message);
    }

    [Fact]
    public void DataOffsetsThatDisagreeWithShapeAndDType()
    {
        string path = Write("size.safetensors", File("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", new byte[16]));
        var error = LoadFails(path, "'w'");
        Assert.Contains("needs 12 bytes", error.Message);
    }

    [Fact]
    public void DataOffsetsThatEndBeforeTheyBegin()
    {
        string path = Write("reversed.safetensors", File("""{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}""", new byte[8]));
        LoadFails(path, "'w'");
    }

    [Fact]
    public void NegativeOrFractionalShape()
    {
        string path = Write("shape.safetensors", File("""{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}""", []));
        Assert.Contains("shape", LoadFails(path, "'w'").Message);
    }

    [Fact]
    public void MissingDataOffsets()
    {
        string path = Write("no-offsets.safetensors", File("""{"w":{"dtype":"U8","shape":[1]}}""", new byte[1]));
        Assert.Contains("data_offsets", LoadFails(path, "'w'").Message);
    }

    [Fact]
    public void OverlappingTensors()
    {
        string path = Write("overlap.safetensors", File(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            new byte[12]));
        var error = LoadFails(path, "'a'");
        Assert.Contains("'b'", error.Message);
        Assert.Contains("overlap", error.Message);
    }

    [Fact]
    public void DuplicatedTensorName()
    {
        string path = Write("duplicate.safetensors", File(
            """{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""",
            new byte[2]));
        Assert.Contains("more than once", LoadFails(path, "'a'").Message);
    }

    [Fact]
    public void MetadataThatIsNotAStringMap()
    {
        string path = Write("metadata.safetensors", File("""{"__metadata__":{"epoch":3}}""", []));
        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsFile.ReadMetadata(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("epoch", error.Message);
    }

    [Fact]
    public void CheckpointExceptionIsAnIOException()
    {
        // Callers that already handle unreadable files with IOException catch checkpoint problems too.
        string path = Write("short2.safetensors", [0]);
        Assert.IsAssignableFrom<IOException>(LoadFails(path));
    }

    private MambaCheckpointException LoadFails(string path, string? tensorName = null)
    {
        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsFile.Load(path));
        Assert.Contains(path, error.Message);
        if (tensorName is not null)
        {
            Assert.Contains(tensorName, error.Message);
        }

        return error;
    }

    private string Write(string name, byte[] bytes)
    {
        string path = _temp.File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Assembles a file from a header text and data bytes, with a correct length prefix.</summary>
    private static byte[] File(string header, byte[] data)
    {
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + headerBytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + headerBytes.Length);
        return bytes;
    }
}
