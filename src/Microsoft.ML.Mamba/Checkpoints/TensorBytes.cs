using TorchSharp;

namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>Moves raw bytes between streams and the storage of contiguous CPU tensors without a managed copy.</summary>
/// <remarks>
/// <see cref="torch.Tensor.bytes"/> gives a span over a CPU tensor's own memory, so a stream can read straight
/// into it. A span is limited to <see cref="int.MaxValue"/> bytes, so large tensors are handled through
/// one-dimensional views of at most <see cref="ChunkBytes"/> bytes each.
/// </remarks>
internal static class TensorBytes
{
    /// <summary>The largest piece moved through one span; a multiple of every element size.</summary>
    internal const int ChunkBytes = 1 << 30;

    /// <summary>Fills a contiguous CPU tensor with exactly its size in bytes from the stream.</summary>
    /// <param name="stream">Where the bytes come from.</param>
    /// <param name="tensor">A contiguous CPU tensor that receives them.</param>
    /// <param name="elementSize">Bytes per element of <paramref name="tensor"/>.</param>
    /// <param name="chunkBytes">The most bytes moved at once (smaller values let tests exercise the chunked path).</param>
    public static void ReadInto(Stream stream, torch.Tensor tensor, int elementSize, int chunkBytes = ChunkBytes)
    {
        ForEachChunk(tensor, elementSize, chunkBytes, span => stream.ReadExactly(span));
    }

    /// <summary>Writes the bytes of a contiguous CPU tensor to the stream.</summary>
    /// <param name="stream">Where the bytes go.</param>
    /// <param name="tensor">A contiguous CPU tensor.</param>
    /// <param name="elementSize">Bytes per element of <paramref name="tensor"/>.</param>
    /// <param name="chunkBytes">The most bytes moved at once.</param>
    public static void WriteFrom(Stream stream, torch.Tensor tensor, int elementSize, int chunkBytes = ChunkBytes)
    {
        ForEachChunk(tensor, elementSize, chunkBytes, span => stream.Write(span));
    }

    private delegate void SpanAction(Span<byte> span);

    private static void ForEachChunk(torch.Tensor tensor, int elementSize, int chunkBytes, SpanAction action)
    {
        long elements = tensor.numel();
        if (elements == 0)
        {
            return;
        }

        if (elements * elementSize <= chunkBytes)
        {
            action(tensor.bytes);
            return;
        }

        long chunkElements = Math.Max(1, chunkBytes / elementSize);
        using var flat = tensor.view(-1);
        for (long start = 0; start < elements; start += chunkElements)
        {
            using var piece = flat.narrow(0, start, Math.Min(chunkElements, elements - start));
            action(piece.bytes);
        }
    }
}
