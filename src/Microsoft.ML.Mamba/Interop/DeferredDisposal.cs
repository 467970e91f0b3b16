using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Releases the managed handles of tensors our autograd functions hand back to TorchSharp.
/// A gradient returned from backward must stay valid until TorchSharp has passed it to libtorch, which
/// happens right after backward returns, so it cannot be disposed there; left to the garbage collector,
/// the handles would pin GPU memory the collector knows nothing about (a 130M model ran out of 140 GB in
/// ten training steps). So each handle is queued and disposed at the next forward or backward call on the
/// same thread: TorchSharp converts the returned gradients before that thread runs anything else, and
/// libtorch keeps its own reference for as long as a gradient is needed. Queues are per thread because the
/// autograd engine runs CUDA backward on its own threads while other threads may be mid-call.
/// </summary>
internal static class DeferredDisposal
{
    [ThreadStatic] private static List<Tensor>? t_queued;

    /// <summary>Queues handles that must outlive the current call.</summary>
    public static void Later(IEnumerable<Tensor?> tensors)
    {
        (t_queued ??= new List<Tensor>()).AddRange(tensors.Where(t => t is not null)!);
    }

    /// <summary>Disposes what this thread queued in its previous call; called at the start of every forward and backward.</summary>
    public static void Advance()
    {
        var expired = t_queued;
        if (expired is null || expired.Count == 0) return;
        t_queued = null;
        foreach (var t in expired) t.Dispose();
    }

    /// <summary>Disposes handles that nobody else holds once this call returns (saved-variable unpacks, temporaries).</summary>
    public static void Now(IEnumerable<Tensor?> tensors)
    {
        foreach (var t in tensors) t?.Dispose();
    }
}
