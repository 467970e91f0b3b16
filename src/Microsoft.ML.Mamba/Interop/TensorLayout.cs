using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Output allocation that keeps the input's memory order. Mamba's in_proj yields (batch, length, channels)
/// tensors, and the mixer views them as (batch, channels, length). An output in that same channel-fastest
/// order turns back into a contiguous (batch, length, channels) tensor for the next linear layer, where a
/// (batch, channels, length) output would cost a transposing copy there, and another one in the backward.
/// </summary>
internal static unsafe class TensorLayout
{
    /// <summary>Copies the first <paramref name="rank"/> element strides of <paramref name="t"/> into a C ABI struct's
    /// stride array (stride(i), not the strides array: no managed round trip per call).</summary>
    public static void CopyStrides(Tensor t, long* target, int rank)
    {
        for (int i = 0; i < rank; i++) target[i] = t.stride(i);
    }

    /// <summary>
    /// An uninitialised tensor of <paramref name="like"/>'s shape (rank 3, (batch, channels, length)), channel-fastest
    /// when <paramref name="like"/> is (its channel stride is 1 and its time stride is not) and it is on a CUDA
    /// device, else contiguous. The CUDA kernels read and write both orders coalesced; the CPU kernels work per
    /// channel row, so they keep the contiguous order.
    /// </summary>
    public static Tensor EmptyLike(Tensor like, ScalarType? dtype = null)
    {
        var type = dtype ?? like.dtype;
        if (like.dim() != 3) return empty(like.shape, dtype: type, device: like.device);
        long b = like.size(0), c = like.size(1), l = like.size(2);
        if (like.device_type == DeviceType.CUDA && l > 1 && like.stride(1) == 1 && like.stride(2) != 1)
        {
            // The view keeps the storage alive; the base's own handle must go now, or it pins the memory until the
            // garbage collector finalises it (these are the scan's and conv's outputs and gradients, every step).
            using var channelsLast = empty(b, l, c, dtype: type, device: like.device);
            return channelsLast.transpose(1, 2);
        }
        return empty(b, c, l, dtype: type, device: like.device);
    }
}
