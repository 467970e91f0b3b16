using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The fused native CPU kernels through TorchSharp autograd, against the fp64 oracles (Oracles/) and, for whole models, the reference.</summary>
public class NativeCpuKernelsTests
{
    private static NativeKernels Native() => NativeUnderTest.Kernels();

    [Theory]
    [MemberData(nameof(KernelComparison.OddShapes), MemberType = typeof(KernelComparison))]
    public void Fp32ScanMatchesReference(int batch, int dim, int length, int state, int groups, bool z, bool dSkip, bool initial)
    {
        var c = ScanCase.Make(batch, dim, length, state, groups, z, dSkip, deltaBias: true, initial);
        KernelComparison.ScanMatchesReference(Native(), CPU, ScalarType.Float32, c, 6e-4, 2e-3);
    }

    [Fact]
    public void Bf16ScanMatchesReference()
    {
        var c = ScanCase.Make(2, 24, 70, 16, initial: true);
        KernelComparison.ScanMatchesReference(Native(), CPU, ScalarType.BFloat16, c, 3e-2, 5e-2);
    }

    [Theory]
    [InlineData(1, 1, 1, 4, true)]
    [InlineData(2, 37, 130, 4, true)]
    [InlineData(2, 5, 9, 3, false)]
    public void ConvMatchesReference(int batch, int dim, int length, int width, bool silu) =>
        KernelComparison.ConvMatchesReference(Native(), CPU, ScalarType.Float32, batch, dim, length, width, silu, 1e-5, 1e-5);

    [Fact]
    public void ModelLogitsAndGradientsMatchReference()
    {
        manual_seed(8);
        var model = new MambaForSequenceClassification(TinyConfigs.Tiny(), numLabels: 2);
        var ids = randint(0, 37, new long[] { 3, 21 });
        var mask = ones(3, 21, dtype: ScalarType.Int64);
        mask[1, TensorIndex.Slice(15)] = 0;
        Tensor[] GradsWith(IMambaKernels k)
        {
            model.Backbone.Kernels = k;
            model.zero_grad();
            var logits = model.forward(ids, mask);
            nn.functional.cross_entropy(logits, tensor(new long[] { 0, 1, 1 })).backward();
            return model.parameters().Select(p => p.grad!.clone()).Prepend(logits.detach()).ToArray();
        }
        var expected = GradsWith(new ReferenceKernels());
        var actual = GradsWith(Native());
        for (int i = 0; i < expected.Length; i++)
            TensorData.AssertClose(actual[i], expected[i], 1e-3, 1e-4, i == 0 ? "logits" : $"gradient {i}");
    }

    [Fact]
    public void TrainingStepsDoNotAccumulateTensorHandles()
    {
        // Handles the autograd functions create must be released, not left to the garbage collector:
        // on a GPU that memory is invisible to it (see Interop/DeferredDisposal).
        manual_seed(4);
        var model = new MambaForSequenceClassification(TinyConfigs.Tiny(), numLabels: 2);
        model.Backbone.Kernels = Native();
        var ids = randint(0, 37, new long[] { 2, 12 });
        var labels = tensor(new long[] { 0, 1 });
        long Live()
        {
            var s = DisposeScopeManager.Statistics;
            return s.CreatedOutsideScopeCount + s.CreatedInScopeCount - s.DisposedOutsideScopeCount - s.DisposedInScopeCount;
        }
        void Step()
        {
            model.zero_grad();
            Tensor loss;
            using (NewDisposeScope())
                loss = nn.functional.cross_entropy(model.forward(ids, null), labels).MoveToOuterDisposeScope();
            loss.backward();   // outside any dispose scope, as on the autograd engine's CUDA threads
            loss.Dispose();
        }
        Step(); Step();
        long after2 = Live();
        const int steps = 5;
        for (int i = 0; i < steps; i++) Step();
        // TorchSharp wraps the undefined gradient of the unused final state in a handle-less Tensor that its
        // statistics count as created but never as disposed: one per scan call, holding no memory. A real
        // leak would keep about ten tensors per call.
        int scanCalls = steps * model.Config.NumHiddenLayers;
        Assert.InRange(Live() - after2, 0, scanCalls);
    }

    [Fact]
    public void DefaultKernelsAreNativeWhenTheLibraryLoads()
    {
        Assert.IsType<NativeKernels>(MambaKernels.Default);
        Assert.True(NativeKernels.IsAvailable);
    }
}
