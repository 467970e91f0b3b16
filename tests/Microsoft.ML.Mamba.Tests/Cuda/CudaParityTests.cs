using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Checkpoints;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>CUDA against CPU: the model, the native CUDA kernels and decoding. Run on the GPU machine.</summary>
[Trait("Category", "Cuda")]
public class CudaParityTests
{
    [Theory]
    [InlineData("reference")]
    [InlineData("native")]
    public void HuggingFaceFixtureLogitsAgreeOnCpuAndCuda(string kernels)
    {
        CudaRequirement.DeviceOrSkip();
        if (kernels == "native") CudaRequirement.NativeCudaOrFail();
        var expected = SafeTensorsFile.Load(Path.Combine(HuggingFaceParityTests.Fixture, "expected.safetensors"));
        var model = MambaForCausalLM.FromPretrained(HuggingFaceParityTests.Fixture, CUDA);
        model.Backbone.Kernels = kernels == "native" ? new NativeKernels(new ThrowingKernels()) : new ReferenceKernels();
        model.eval();
        using var _ = no_grad();
        var logits = model.forward(expected["input_ids"].cuda(), null).cpu();
        double maxError = (logits - expected["logits"]).abs().max().item<float>();
        Assert.True(maxError <= 1e-4, $"max abs logit error on CUDA ({kernels}) {maxError:E2} > 1e-4");
    }

    [Theory]
    [MemberData(nameof(KernelComparison.OddShapes), MemberType = typeof(KernelComparison))]
    public void NativeCudaScanMatchesReferenceFp32(int batch, int dim, int length, int state, int groups, bool z, bool dSkip, bool initial)
    {
        CudaRequirement.NativeCudaOrFail();
        var c = ScanCase.Make(batch, dim, length, state, groups, z, dSkip, deltaBias: true, initial);
        KernelComparison.ScanMatchesReference(new NativeKernels(new ThrowingKernels()), CUDA, ScalarType.Float32, c, 6e-4, 2e-3);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void NativeCudaScanMatchesReferenceHalf(ScalarType dtype)
    {
        CudaRequirement.NativeCudaOrFail();
        var c = ScanCase.Make(2, 24, 70, 16, initial: true);
        KernelComparison.ScanMatchesReference(new NativeKernels(new ThrowingKernels()), CUDA, dtype, c, 3e-2, 5e-2);
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    public void NativeCudaRmsNormTrainingMatchesReference(ScalarType dtype, double tolerance)
    {
        CudaRequirement.NativeCudaOrFail();
        // 1,200 rows: more than the backward's 1,056 blocks, so blocks take several rows; size 200 < 256 threads.
        RmsNormComparison.NativeMatchesReference(new long[] { 4, 300, 200 }, seed: 3, dtype, tolerance);
    }

    [Theory]
    [InlineData(1, 1, 1, 4, true)]
    [InlineData(2, 37, 130, 4, true)]
    [InlineData(2, 5, 9, 3, false)]
    public void NativeCudaConvMatchesReference(int batch, int dim, int length, int width, bool silu)
    {
        CudaRequirement.NativeCudaOrFail();
        KernelComparison.ConvMatchesReference(new NativeKernels(new ThrowingKernels()), CUDA, ScalarType.Float32,
            batch, dim, length, width, silu, 1e-5, 1e-5);
    }

    [Fact]
    public void TrainingGradientsAgreeOnCpuAndCuda()
    {
        CudaRequirement.NativeCudaOrFail();
        manual_seed(8);
        var model = new MambaForSequenceClassification(TinyConfigs.Tiny(), numLabels: 2);
        var ids = randint(0, 37, new long[] { 3, 21 });
        var labels = tensor(new long[] { 0, 1, 1 });
        Tensor[] Grads(Device device, IMambaKernels kernels)
        {
            model.to(device);
            model.Backbone.Kernels = kernels;
            model.zero_grad();
            var logits = model.forward(ids.to(device), null);
            nn.functional.cross_entropy(logits, labels.to(device)).backward();
            return model.parameters().Select(p => p.grad!.cpu()).Prepend(logits.detach().cpu()).ToArray();
        }
        var cpu = Grads(CPU, new ReferenceKernels());
        var cuda = Grads(CUDA, new NativeKernels(new ThrowingKernels()));
        for (int i = 0; i < cpu.Length; i++) TensorData.AssertClose(cuda[i], cpu[i], 1e-3, 1e-4, i == 0 ? "logits" : $"gradient {i}");
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("native")]
    public void RecurrentStepsOnCudaEqualTheFullForward(string kernels)
    {
        CudaRequirement.DeviceOrSkip();
        if (kernels == "native") CudaRequirement.NativeCudaOrFail();
        manual_seed(3);
        var model = new MambaForCausalLM(TinyConfigs.Tiny(), CUDA);
        model.Backbone.Kernels = kernels == "native" ? new NativeKernels(new ThrowingKernels()) : new ReferenceKernels();
        model.eval();
        using var _ = no_grad();
        var ids = randint(0, 37, new long[] { 2, 9 }).cuda();
        var full = model.forward(ids, null);
        using var cache = model.Backbone.NewCache(2);
        model.Prefill(ids.narrow(1, 0, 4), null, cache);
        for (int t = 4; t < 9; t++)
            TensorData.AssertClose(model.Step(ids.select(1, t), cache), full.select(1, t), 1e-4, 1e-4, $"step {t}");
    }

    [Theory]
    [MemberData(nameof(DecodeStepComparison.OddShapes), MemberType = typeof(DecodeStepComparison))]
    public void NativeCudaDecodeStepMatchesReference(int batch, int inner, int state, int rank, int width, bool gated,
        bool dSkip, bool convBias, bool strided)
    {
        CudaRequirement.NativeCudaOrFail();
        DecodeStepComparison.StepMatchesReference(new NativeKernels(new ThrowingKernels()), CUDA, ScalarType.Float32, batch,
            inner, state, rank, width, gated, dSkip, convBias, strided, 1e-4, 1e-5);
    }

    [Fact]
    public void NativeCudaDecodeStepBf16AndRmsNormMatchReference()
    {
        CudaRequirement.NativeCudaOrFail();
        var native = new NativeKernels(new ThrowingKernels());
        DecodeStepComparison.StepMatchesReference(native, CUDA, ScalarType.BFloat16, 2, 40, 16, 4, 4, true, true, true, true, 3e-2, 5e-2);
        DecodeStepComparison.RmsNormMatchesReference(native, CUDA, ScalarType.Float32, 1e-5, 1e-6);
        DecodeStepComparison.RmsNormMatchesReference(native, CUDA, ScalarType.BFloat16, 2e-2, 2e-2);
    }
}
