using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// The one LibTorchSharp export we need: the address of a tensor's first element (storage offset
/// included), for any dtype and device. TorchSharp has no public Tensor.data_ptr().
/// </summary>
internal static partial class TorchSharpNative
{
    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr handle);

    public static IntPtr DataPointer(Tensor t) => THSTensor_data(t.Handle);

    public static IntPtr DataPointer(Tensor? t, IntPtr whenNull) => t is null ? whenNull : THSTensor_data(t.Handle);

    public static NativeDType DType(Tensor t) => t.dtype switch
    {
        ScalarType.Float32 => NativeDType.F32,
        ScalarType.Float64 => NativeDType.F64,
        ScalarType.BFloat16 => NativeDType.BF16,
        ScalarType.Float16 => NativeDType.F16,
        _ => throw new NotSupportedException($"dtype {t.dtype} is not supported by the native kernels"),
    };

    public static bool IsSupported(ScalarType type) =>
        type is ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16 or ScalarType.Float16;
}
