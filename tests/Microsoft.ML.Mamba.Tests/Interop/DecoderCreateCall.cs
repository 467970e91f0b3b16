using Microsoft.ML.Mamba.Interop;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Tests.Interop;

/// <summary>
/// A native decoder's create call (Mamba-1 or Mamba-2 descriptor) driven from a valid descriptor whose pointers are
/// one non-null host block, never dereferenced (the CUDA build rejects host memory, the CPU build stops at NOT_BUILT):
/// the argument checks DecoderArgumentTests and Mamba2DecoderArgumentTests share.
/// </summary>
internal sealed class DecoderCreateCall<TDesc, TLayer> where TDesc : struct
{
    public delegate int CreateFunction(TDesc? desc, TLayer[]? layers, bool withOut, out IntPtr handle);

    public delegate void Change(ref TDesc desc, TLayer[] layers);

    private readonly Func<IntPtr, (TDesc Desc, TLayer[] Layers)> _valid;
    private readonly CreateFunction _create;

    /// <param name="valid">A valid descriptor and its layers, every pointer the given host block.</param>
    /// <param name="create">The NativeMethods wrapper of the create entry point.</param>
    public DecoderCreateCall(Func<IntPtr, (TDesc Desc, TLayer[] Layers)> valid, CreateFunction create)
    {
        _valid = valid;
        _create = create;
    }

    /// <summary>Runs <paramref name="body"/> on a fresh valid descriptor and frees its host block after.</summary>
    public void WithValid(Action<TDesc, TLayer[]> body)
    {
        IntPtr fake = Marshal.AllocHGlobal(64);
        try
        {
            var (desc, layers) = _valid(fake);
            body(desc, layers);
        }
        finally { Marshal.FreeHGlobal(fake); }
    }

    /// <summary>The create call's status and last error; the handle must stay null (it is cleared on every failure).</summary>
    public (int Status, string Message) Create(TDesc desc, TLayer[] layers)
    {
        int status = _create(desc, layers, withOut: true, out var handle);
        string message = Marshal.PtrToStringUTF8(NativeMethods.mamba_last_error()) ?? "";
        Assert.Equal(IntPtr.Zero, handle);
        return (status, message);
    }

    /// <summary>The valid descriptor after <paramref name="change"/> is an invalid argument whose message names <paramref name="named"/>.</summary>
    public void AssertRejected(Change change, string named)
    {
        Assert.True(NativeLibraryLoader.IsLoaded, NativeLibraryLoader.FailureReason);
        WithValid((desc, layers) =>
        {
            change(ref desc, layers);
            var (status, message) = Create(desc, layers);
            Assert.Equal((int)NativeStatus.InvalidArgument, status);
            Assert.Contains(named, message);
        });
    }

    /// <summary>The valid descriptor's host pointers: refused by a CUDA build, NOT_BUILT in one without CUDA.</summary>
    public void AssertHostPointersRefusedOrNotBuilt() => WithValid((desc, layers) =>
    {
        var (status, message) = Create(desc, layers);
        if (NativeLibraryLoader.HasCuda) Assert.True(status == (int)NativeStatus.InvalidArgument, $"{status}: {message}");
        else Assert.Equal((int)NativeStatus.NotBuilt, status);
    });

    /// <summary>
    /// fp16 is unsupported; with <paramref name="supported"/> instead, a call without the out-handle or without the
    /// descriptor is an invalid argument. <paramref name="withDtype"/> sets a descriptor's dtype.
    /// </summary>
    public void AssertFp16UnsupportedAndNullArgumentsInvalid(Func<TDesc, NativeDType, TDesc> withDtype, NativeDType supported) => WithValid((desc, layers) =>
    {
        Assert.Equal((int)NativeStatus.Unsupported, Create(withDtype(desc, NativeDType.F16), layers).Status);
        Assert.Equal((int)NativeStatus.InvalidArgument, _create(withDtype(desc, supported), layers, withOut: false, out _));
        Assert.Equal((int)NativeStatus.InvalidArgument, _create(null, layers, withOut: true, out _));
    });
}
