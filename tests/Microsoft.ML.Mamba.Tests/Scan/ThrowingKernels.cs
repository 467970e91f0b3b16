using Microsoft.ML.Mamba.Scan;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>A fallback that throws: makes any silent fallback of NativeKernels to the reference fail the test.</summary>
internal sealed class ThrowingKernels : IMambaKernels
{
    public string Name => "throwing";

    public (Tensor Output, Tensor? FinalState) SelectiveScan(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D,
        Tensor? z, Tensor? deltaBias, bool deltaSoftplus, Tensor? initialState = null, bool returnFinalState = false) =>
        throw new InvalidOperationException("the native scan fell back to the reference");

    public Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? bias, bool silu) =>
        throw new InvalidOperationException("the native conv fell back to the reference");

    public Tensor DecodeStep(Tensor x, Tensor? z, Tensor convState, Tensor ssmState, DecodeStepWeights weights) =>
        throw new InvalidOperationException("the native decode step fell back to the reference");

    public Tensor RmsNorm(Tensor x, Tensor weight, double eps) =>
        throw new InvalidOperationException("the native RMSNorm fell back to the reference");
}
