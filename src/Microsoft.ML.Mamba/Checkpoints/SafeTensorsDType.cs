using TorchSharp;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>Maps safetensors dtype names to TorchSharp scalar types and their sizes in bytes.</summary>
internal static class SafeTensorsDType
{
    private static readonly (string Name, torch.ScalarType Type, int Size)[] Known =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    ];

    /// <summary>Finds the scalar type for a dtype name as written in a header; false for names this library does not read.</summary>
    public static bool TryParse(string name, out torch.ScalarType type, out int elementSize)
    {
        foreach (var known in Known)
        {
            // The format spells dtypes in upper case; matching exactly keeps us as strict as the reference reader.
            if (string.Equals(known.Name, name, StringComparison.Ordinal))
            {
                type = known.Type;
                elementSize = known.Size;
                return true;
            }
        }

        type = default;
        elementSize = 0;
        return false;
    }

    /// <summary>The header name and element size for a scalar type, or false when the format (as supported here) cannot hold it.</summary>
    public static bool TryGetName(torch.ScalarType type, out string name, out int elementSize)
    {
        foreach (var known in Known)
        {
            if (known.Type == type)
            {
                name = known.Name;
                elementSize = known.Size;
                return true;
            }
        }

        name = string.Empty;
        elementSize = 0;
        return false;
    }
}
