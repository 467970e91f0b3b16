namespace Microsoft.ML.Mamba.Interop;

/// <summary>A native kernel reported an error (bad arguments, CUDA failure, out of memory).</summary>
public sealed class MambaNativeException : Exception
{
    internal NativeStatus Status { get; }

    /// <summary>True when the device ran out of memory; the caller may retry with a smaller batch.</summary>
    public bool IsOutOfMemory => Status == NativeStatus.OutOfMemory;

    internal MambaNativeException(NativeStatus status, string message) : base(message) => Status = status;
}
