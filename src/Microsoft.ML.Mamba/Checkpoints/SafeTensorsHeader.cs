using System.Buffers.Binary;
using System.Text.Json;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>The parsed and checked header of a safetensors file.</summary>
/// <remarks>
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (plus an optional <c>__metadata__</c> string map),
/// then the data section, which the offsets index into.
/// </remarks>
internal sealed class SafeTensorsHeader
{
    /// <summary>Size of the little-endian header length that starts every file.</summary>
    public const int LengthPrefixBytes = 8;

    /// <summary>The key that holds free-form string metadata instead of a tensor.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// Headers beyond this are refused before being read, as the reference implementation does;
    /// real headers are kilobytes, so a larger value means corruption rather than a big model.
    /// </summary>
    public const long MaxHeaderBytes = 100_000_000;

    private SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        Entries = entries;
        Metadata = metadata;
        DataStart = dataStart;
    }

    /// <summary>The tensors, ordered by where their bytes start.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Absolute file offset of the data section.</summary>
    public long DataStart { get; }

    /// <summary>Reads and checks the header at the start of <paramref name="stream"/>.</summary>
    /// <param name="stream">A seekable stream positioned anywhere; it is left after the header.</param>
    /// <param name="path">The file name used in error messages.</param>
    /// <exception cref="MambaCheckpointException">The header is truncated, malformed or inconsistent with the file.</exception>
    public static SafeTensorsHeader Read(Stream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < LengthPrefixBytes)
        {
            throw Fail(path, $"the file is too short ({fileLength} bytes) to hold the {LengthPrefixBytes}-byte header length.");
        }

        stream.Position = 0;
        Span<byte> prefix = stackalloc byte[LengthPrefixBytes];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(fileLength - LengthPrefixBytes))
        {
            throw Fail(path, $"the header length {headerLength} runs past the end of the file ({fileLength} bytes).");
        }

        if (headerLength > MaxHeaderBytes)
        {
            throw Fail(path, $"the header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit.");
        }

        var headerBytes = new byte[(int)headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = LengthPrefixBytes + (long)headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes);
        }
        catch (JsonException e)
        {
            throw Fail(path, $"the header is not valid JSON ({e.Message}).", e);
        }

        using (document)
        {
            try
            {
                return Parse(document, dataStart, dataLength, path);
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument checks UTF-8 only when a string is read: a name that is not UTF-8 fails here.
                throw Fail(path, $"the header holds a name or string that is not valid UTF-8 ({e.Message}).", e);
            }
        }
    }

    private static SafeTensorsHeader Parse(JsonDocument document, long dataStart, long dataLength, string path)
    {
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, $"the header must be a JSON object but is a {document.RootElement.ValueKind}.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<SafeTensorsEntry>();
        IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>();
        foreach (var property in document.RootElement.EnumerateObject())
        {
            // JsonDocument keeps repeated keys; a repeated tensor would make the file ambiguous.
            if (!seen.Add(property.Name))
            {
                throw Fail(path, $"the header names '{property.Name}' more than once.");
            }

            if (property.Name == MetadataKey)
            {
                metadata = ParseMetadata(property.Value, path);
            }
            else
            {
                entries.Add(ParseEntry(property.Name, property.Value, dataLength, path));
            }
        }

        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckNoOverlap(entries, path);
        return new SafeTensorsHeader(entries, metadata, dataStart);
    }

    /// <summary>Builds the exception for a problem in <paramref name="path"/>.</summary>
    internal static MambaCheckpointException Fail(string path, string problem, Exception? inner = null) =>
        new($"Safetensors file '{path}': {problem}", inner);

    private static IReadOnlyDictionary<string, string> ParseMetadata(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, $"'{MetadataKey}' must be an object of strings but is a {value.ValueKind}.");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw Fail(path, $"'{MetadataKey}' entry '{item.Name}' must be a string but is a {item.Value.ValueKind}.");
            }

            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw Fail(path, $"'{MetadataKey}' names '{item.Name}' more than once.");
            }
        }

        return metadata;
    }

    private static SafeTensorsEntry ParseEntry(string name, JsonElement value, long dataLength, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, $"tensor '{name}' must be described by an object but is a {value.ValueKind}.");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Fail(path, $"tensor '{name}' has no string 'dtype'.");
        }

        string dtype = dtypeElement.GetString()!;
        if (!SafeTensorsDType.TryParse(dtype, out var scalarType, out int elementSize))
        {
            throw Fail(path, $"tensor '{name}' has dtype '{dtype}', which is unknown or not supported (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL).");
        }

        long[] shape = ReadNonNegativeIntegers(value, "shape", name, path);
        long[] offsets = ReadNonNegativeIntegers(value, "data_offsets", name, path);
        if (offsets.Length != 2)
        {
            throw Fail(path, $"tensor '{name}' must have exactly two data_offsets but has {offsets.Length}.");
        }

        long begin = offsets[0], end = offsets[1];
        if (begin > end)
        {
            throw Fail(path, $"tensor '{name}' has data_offsets [{begin}, {end}] that end before they begin.");
        }

        if (end > dataLength)
        {
            throw Fail(path, $"tensor '{name}' has data_offsets [{begin}, {end}] beyond the {dataLength}-byte data section.");
        }

        long expectedBytes;
        try
        {
            long elements = 1;
            foreach (long dimension in shape)
            {
                elements = checked(elements * dimension);
            }

            expectedBytes = checked(elements * elementSize);
        }
        catch (OverflowException e)
        {
            throw Fail(path, $"tensor '{name}' has a shape [{string.Join(", ", shape)}] too large to address.", e);
        }

        if (expectedBytes != end - begin)
        {
            throw Fail(path, $"tensor '{name}' is {dtype} [{string.Join(", ", shape)}], which needs {expectedBytes} bytes, but its data_offsets [{begin}, {end}] span {end - begin}.");
        }

        return new SafeTensorsEntry(name, dtype, scalarType, elementSize, shape, begin, end);
    }

    private static long[] ReadNonNegativeIntegers(JsonElement value, string property, string name, string path)
    {
        if (!value.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            throw Fail(path, $"tensor '{name}' has no '{property}' array.");
        }

        var result = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long number) || number < 0)
            {
                throw Fail(path, $"tensor '{name}' has '{property}' entry {item} that is not a non-negative integer.");
            }

            result[i++] = number;
        }

        return result;
    }

    private static void CheckNoOverlap(List<SafeTensorsEntry> entries, string path)
    {
        // Empty tensors own no bytes, so they may sit at any offset; gaps between tensors are harmless and allowed.
        SafeTensorsEntry? previous = null;
        foreach (var entry in entries)
        {
            if (entry.ByteLength == 0)
            {
                continue;
            }

            if (previous is not null && entry.Begin < previous.End)
            {
                throw Fail(path, $"tensors '{previous.Name}' [{previous.Begin}, {previous.End}] and '{entry.Name}' [{entry.Begin}, {entry.End}] overlap.");
            }

            previous = entry;
        }
    }
}
