namespace Microsoft.ML.Mamba.Checkpoints;

/// <summary>
/// Thrown when a checkpoint file or directory cannot be used: a corrupt or truncated safetensors file,
/// an inconsistent shard index, or tensors that do not match what a model expects.
/// </summary>
/// <remarks>
/// It derives from <see cref="IOException"/> (<see cref="InvalidDataException"/> is sealed), so callers that
/// already handle unreadable files keep working. Messages name the file and, where one is involved, the tensor.
/// </remarks>
public class MambaCheckpointException : IOException
{
    /// <summary>Creates the exception with a message that names the file and tensor at fault.</summary>
    /// <param name="message">What is wrong, including the file path and tensor name where known.</param>
    /// <param name="inner">The lower-level error that revealed the problem, if any.</param>
    public MambaCheckpointException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
