using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// The checks every kernel entry makes of each tensor besides its shape: a floating-point dtype, the main input's
/// device, no zero-size axis, and an element count that fits int64. The native kernels read and write raw pointers
/// with sizes taken from the main input, so a tensor that slips past these reads or writes memory it does not own.
/// </summary>
internal static class KernelArguments
{
    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="name"/> unless <paramref name="t"/> is usable
    /// next to <paramref name="main"/> (named <paramref name="mainName"/>).</summary>
    public static void Check(Tensor main, string mainName, Tensor? t, string name)
    {
        if (t is null) return;
        if (!IsFloating(t.dtype))
            throw new ArgumentException($"{name} must be a floating-point tensor, got dtype {t.dtype}", name);
        if (!ReferenceEquals(main, t) && (t.device_type != main.device_type || t.device_index != main.device_index))
            throw new ArgumentException(
                $"{name} is on device {t.device} but {mainName} is on {main.device}; every tensor of a kernel call must be on one device", name);
        NotEmpty(t, name);
    }

    /// <summary>Throws when an axis of <paramref name="t"/> has size 0, or its sizes multiply past int64.</summary>
    public static void NotEmpty(Tensor t, string name)
    {
        long product = 1;
        for (int i = 0; i < t.dim(); i++)
        {
            long size = t.size(i);
            if (size <= 0)
                throw new ArgumentException($"{name} has a zero-size axis {i}: {ScanShapes.Shape(t)}; the kernels take no empty tensors", name);
            if (product > long.MaxValue / size)
                throw new ArgumentException($"{name} of shape {ScanShapes.Shape(t)} has more than 2^63 elements", name);
            product *= size;
        }
    }

    /// <summary>Backward passes: a gradient must have its forward tensor's shape and device.</summary>
    public static void SameShape(Tensor like, string likeName, Tensor grad, string name)
    {
        bool same = grad.dim() == like.dim() && grad.device_type == like.device_type && grad.device_index == like.device_index;
        for (int i = 0; same && i < like.dim(); i++) same = grad.size(i) == like.size(i);
        if (!same)
            throw new ArgumentException(
                $"{name} must be {ScanShapes.Shape(like)} on {like.device} like {likeName}, got {ScanShapes.Shape(grad)} on {grad.device}", name);
    }

    private static bool IsFloating(ScalarType t) =>
        t is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16;
}
