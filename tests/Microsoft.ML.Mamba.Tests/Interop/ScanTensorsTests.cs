using Microsoft.ML.Mamba.Interop;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Interop;

/// <summary>
/// <see cref="ScanTensors"/> is the one place the scan's named tensors meet TorchSharp's positional autograd arguments
/// and saved variables: every combination of optional tensors must come back in its own slot.
/// </summary>
public class ScanTensorsTests
{
    [Fact]
    public void EveryCombinationOfOptionalTensorsRoundTripsThroughArgumentsAndSavedVariables()
    {
        Tensor T() => zeros(1);
        var settings = new SelectiveScanFunction.ScanSettings(true, false);
        for (int mask = 0; mask < 16; mask++)
        {
            var t = new ScanTensors(T(), T(), T(), T(), T(),
                (mask & 1) != 0 ? T() : null, (mask & 2) != 0 ? T() : null, (mask & 4) != 0 ? T() : null, (mask & 8) != 0 ? T() : null);

            var args = t.Arguments(settings);
            Assert.Equal(ScanTensors.Count + 1, args.Length);
            Assert.Same(settings, args[ScanTensors.Count]);
            AssertSameSlots(t, ScanTensors.FromArguments(args), $"arguments, mask {mask}");

            var saved = t.PresentTensors();
            Assert.Equal(t.PresentCount, saved.Count);
            saved.Add(T());   // a checkpoint after the inputs must not shift them
            AssertSameSlots(t, ScanTensors.FromSaved(saved, t.Present), $"saved, mask {mask}");

            var grads = t.AsGradients();
            Assert.Equal(ScanTensors.Count + 1, grads.Count);
            Assert.Null(grads[^1]);   // the settings argument gets no gradient
            for (int i = 0; i < ScanTensors.Count; i++) Assert.True(ReferenceEquals(t.All()[i], grads[i]), $"gradient slot {i}, mask {mask}");
        }
    }

    private static void AssertSameSlots(ScanTensors expected, ScanTensors actual, string what)
    {
        var e = expected.All();
        var a = actual.All();
        for (int i = 0; i < e.Length; i++)
            Assert.True(ReferenceEquals(e[i], a[i]), $"{what}: slot {i} differs");
    }
}
