using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Seeded construction on TorchSharp's process-wide random generator. Module constructors and our initialisers draw
/// from that one generator, so two models built at the same time on different threads (AutoML trials, parallel
/// tests) would interleave their draws and neither would get the weights its seed promises. Seeding and building
/// under one lock keeps every build that goes through here reproducible; code that draws from the global generator
/// without it can still interleave.
/// </summary>
internal static class TorchGlobalRandom
{
    private static readonly object Gate = new();

    /// <summary>Seeds the global generator with <paramref name="seed"/> and runs <paramref name="create"/>, with no other caller in between.</summary>
    public static T Seeded<T>(long seed, Func<T> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        lock (Gate)
        {
            manual_seed(seed);
            return create();
        }
    }
}
