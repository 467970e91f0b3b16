using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>
/// Reads and writes single safetensors files, the tensor format Hugging Face checkpoints use.
/// </summary>
/// <remarks>
/// Tensor bytes are streamed straight from the file into each tensor's own storage (and back), so a load
/// holds the weights once, not twice. Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8 and BOOL.
/// </remarks>
public static class SafeTensorsFile
{
    /// <summary>Loads every tensor in a safetensors file.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <param name="device">Where the tensors should live; the CPU when null.</param>
    /// <returns>The tensors by name, in the order their bytes appear in the file. The caller owns and disposes them.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="MambaCheckpointException">The file is truncated, malformed or internally inconsistent; the message names the file and tensor.</exception>
    public static Dictionary<string, torch.Tensor> Load(string path, torch.Device? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        EnsureLittleEndianHost();

        using var stream = OpenRead(path);
        return Load(stream, path, device);
    }

    /// <summary>Loads every tensor from a seekable stream; <paramref name="path"/> names it in errors.</summary>
    internal static Dictionary<string, torch.Tensor> Load(Stream stream, string path, torch.Device? device)
    {
        EnsureLittleEndianHost();
        return ReadTensors(stream, SafeTensorsHeader.Read(stream, path), path, device);
    }

    /// <summary>Reads the tensors <paramref name="header"/> (read from the same stream) describes.</summary>
    internal static Dictionary<string, torch.Tensor> ReadTensors(Stream stream, SafeTensorsHeader header, string path, torch.Device? device)
    {
        var tensors = new Dictionary<string, torch.Tensor>(header.Entries.Count, StringComparer.Ordinal);
        try
        {
            foreach (var entry in header.Entries)
            {
                tensors.Add(entry.Name, ReadTensor(stream, header, entry, path, device));
            }
        }
        catch
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }

            throw;
        }

        return tensors;
    }

    /// <summary>Reads the free-form <c>__metadata__</c> string map of a safetensors file without loading any tensor.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <returns>The metadata; empty when the file has none.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="MambaCheckpointException">The header is malformed.</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = OpenRead(path);
        return SafeTensorsHeader.Read(stream, path).Metadata;
    }

    /// <summary>Writes tensors to a safetensors file that Python's <c>safetensors</c> library and Hugging Face can read.</summary>
    /// <param name="path">The file to create or replace. It is written to a temporary name first and then moved into place.</param>
    /// <param name="tensors">The tensors by name. Any device and layout is accepted; bytes are taken from a contiguous CPU copy when needed.</param>
    /// <param name="metadata">Optional free-form strings stored under <c>__metadata__</c>, for example <c>{"format": "pt"}</c>; nothing is stored when null or empty.</param>
    /// <remarks>Tensors are laid out sorted by name (ordinal), and the header is padded with spaces to a multiple of 8 bytes.</remarks>
    /// <exception cref="ArgumentException">A name is empty or reserved, a tensor is null, or its dtype cannot be stored.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        EnsureLittleEndianHost();

        var layout = PlanLayout(tensors);
        byte[] header = BuildHeader(layout, metadata);

        string fullPath = Path.GetFullPath(path);
        string temporary = fullPath + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> prefix = stackalloc byte[SafeTensorsHeader.LengthPrefixBytes];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (var item in layout)
                {
                    WriteTensor(stream, item.Tensor, item.ElementSize);
                }
            }

            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>The number of data bytes a tensor takes in a safetensors file.</summary>
    internal static long ByteSize(string name, torch.Tensor tensor)
    {
        if (!SafeTensorsDType.TryGetName(tensor.dtype, out _, out int elementSize))
        {
            throw UnsupportedType(name, tensor);
        }

        return tensor.numel() * elementSize;
    }

    private static FileStream OpenRead(string path)
    {
        // Large reads go straight into tensor storage, so a small buffer only serves the header.
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 12, FileOptions.SequentialScan);
    }

    private static torch.Tensor ReadTensor(Stream stream, SafeTensorsHeader header, SafeTensorsEntry entry, string path, torch.Device? device)
    {
        var tensor = torch.empty(entry.Shape, entry.ScalarType);
        try
        {
            stream.Position = header.DataStart + entry.Begin;
            TensorBytes.ReadInto(stream, tensor, entry.ElementSize);
        }
        catch (Exception e) when (e is IOException)
        {
            tensor.Dispose();
            throw SafeTensorsHeader.Fail(path, $"reading tensor '{entry.Name}' failed ({e.Message}).", e);
        }

        if (device is null || device.type == DeviceType.CPU)
        {
            return tensor;
        }

        using (tensor)
        {
            return tensor.to(device);
        }
    }

    private static void WriteTensor(Stream stream, torch.Tensor tensor, int elementSize)
    {
        // Take bytes from a contiguous CPU tensor; make one only when the caller's tensor is not already so.
        var onCpu = tensor.device_type == DeviceType.CPU ? tensor : tensor.cpu();
        var contiguous = onCpu.is_contiguous() ? onCpu : onCpu.contiguous();
        try
        {
            TensorBytes.WriteFrom(stream, contiguous, elementSize);
        }
        finally
        {
            if (!ReferenceEquals(contiguous, tensor) && !ReferenceEquals(contiguous, onCpu))
            {
                contiguous.Dispose();
            }

            if (!ReferenceEquals(onCpu, tensor))
            {
                onCpu.Dispose();
            }
        }
    }

    private readonly record struct PlannedTensor(string Name, torch.Tensor Tensor, string DType, int ElementSize, long Begin, long End);

    private static List<PlannedTensor> PlanLayout(IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        var names = tensors.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);

        var layout = new List<PlannedTensor>(names.Length);
        var unique = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        foreach (string name in names)
        {
            if (string.IsNullOrEmpty(name))
            {
                throw new ArgumentException("Tensor names must not be empty.", nameof(tensors));
            }

            if (name == SafeTensorsHeader.MetadataKey)
            {
                throw new ArgumentException($"'{SafeTensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
            }

            // A dictionary with a case-insensitive comparer could still hold names the file cannot tell apart.
            if (!unique.Add(name))
            {
                throw new ArgumentException($"Tensor name '{name}' appears more than once.", nameof(tensors));
            }

            var tensor = tensors[name] ?? throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            if (!SafeTensorsDType.TryGetName(tensor.dtype, out string dtype, out int elementSize))
            {
                throw UnsupportedType(name, tensor);
            }

            long end = offset + tensor.numel() * elementSize;
            layout.Add(new PlannedTensor(name, tensor, dtype, elementSize, offset, end));
            offset = end;
        }

        return layout;
    }

    private static byte[] BuildHeader(List<PlannedTensor> layout, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            // Like the Python writer, leave the key out entirely when there is nothing to store.
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(item => item.Key, StringComparer.Ordinal))
                {
                    if (value is null)
                    {
                        throw new ArgumentException($"Metadata entry '{key}' has a null value.", nameof(metadata));
                    }

                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            foreach (var item in layout)
            {
                json.WriteStartObject(item.Name);
                json.WriteString("dtype", item.DType);
                json.WriteStartArray("shape");
                foreach (long dimension in item.Tensor.shape)
                {
                    json.WriteNumberValue(dimension);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(item.Begin);
                json.WriteNumberValue(item.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        // Pad with spaces so the data section starts 8-byte aligned, as the Python writer does.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++)
        {
            buffer.WriteByte((byte)' ');
        }

        return buffer.ToArray();
    }

    private static ArgumentException UnsupportedType(string name, torch.Tensor tensor) =>
        new($"Tensor '{name}' has dtype {tensor.dtype}, which safetensors files written here cannot hold (supported: Float64, Float32, Float16, BFloat16, Int64, Int32, Int16, Int8, Byte, Bool).", "tensors");

    private static void EnsureLittleEndianHost()
    {
        // The format is little-endian and bytes are copied verbatim.
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Safetensors files can only be read and written on little-endian machines.");
        }
    }
}
