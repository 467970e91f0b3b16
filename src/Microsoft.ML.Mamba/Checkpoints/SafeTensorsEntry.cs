using TorchSharp;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>One tensor as described by a safetensors header: where its bytes are and how to interpret them.</summary>
/// <param name="Name">The tensor's name (its key in the header).</param>
/// <param name="DType">The header's dtype name, for example <c>F32</c>.</param>
/// <param name="ScalarType">The TorchSharp type the bytes are read as.</param>
/// <param name="ElementSize">Bytes per element.</param>
/// <param name="Shape">The dimensions; empty for a scalar.</param>
/// <param name="Begin">Offset of the first byte, relative to the start of the data section.</param>
/// <param name="End">Offset one past the last byte, relative to the start of the data section.</param>
internal sealed record SafeTensorsEntry(
    string Name,
    string DType,
    torch.ScalarType ScalarType,
    int ElementSize,
    long[] Shape,
    long Begin,
    long End)
{
    /// <summary>The number of bytes the data section holds for this tensor.</summary>
    public long ByteLength => End - Begin;
}
