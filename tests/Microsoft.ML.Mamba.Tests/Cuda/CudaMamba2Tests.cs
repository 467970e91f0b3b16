using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Checkpoints;
using Microsoft.ML.Mamba.Tests.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>Mamba-2 on CUDA with the reference kernels (the native SSD kernels have their own tests). Run on the GPU machine.</summary>
[Trait("Category", "Cuda")]
public class CudaMamba2Tests
{
    [Fact]
    public void FixtureLogitsMatchTransformersOnCuda()
    {
        CudaRequirement.DeviceOrSkip();
        var expected = SafeTensorsFile.Load(Path.Combine(HuggingFaceMamba2ParityTests.Fixture, "expected.safetensors"));
        var model = MambaForCausalLM.FromPretrained(HuggingFaceMamba2ParityTests.Fixture, CUDA);
        model.Backbone.Kernels = new ReferenceKernels();
        model.eval();
        using var _ = no_grad();
        var logits = model.forward(expected["input_ids"].cuda(), null).cpu();
        double maxError = (logits - expected["logits"]).abs().max().item<float>();
        Assert.True(maxError <= 1e-4, $"max abs logit error on CUDA {maxError:E2} > 1e-4");
        var masked = model.forward(expected["mask_input_ids"].cuda(), expected["mask_attention_mask"].cuda()).cpu();
        double maskedError = (masked.narrow(0, 1, 2) - expected["mask_logits"].narrow(0, 1, 2)).abs().max().item<float>();
        Assert.True(maskedError <= 1e-4, $"max abs masked logit error on CUDA {maskedError:E2} > 1e-4");
    }

    [Fact]
    public void StepsOnCudaEqualTheFullForwardAndTrainingStepsRun()
    {
        CudaRequirement.DeviceOrSkip();
        var model = TorchGlobalRandom.Seeded(3, () => new MambaForCausalLM(TinyConfigs.TinyMamba2(), CUDA));
        model.Backbone.Kernels = new ReferenceKernels();
        var ids = randint(0, 37, new long[] { 2, 9 }).cuda();
        using (no_grad())
        {
            model.eval();
            var full = model.forward(ids, null);
            using var cache = model.Backbone.NewCache(2);
            model.Prefill(ids.narrow(1, 0, 4), null, cache);
            for (int t = 4; t < 9; t++)
                TensorData.AssertClose(model.Step(ids.select(1, t), cache), full.select(1, t), 1e-4, 1e-4, $"step {t}");
        }
        model.train();
        var loss = nn.functional.cross_entropy(model.forward(ids, null).narrow(1, 0, 8).reshape(-1, 37), ids.narrow(1, 1, 8).reshape(-1));
        loss.backward();
        Assert.All(model.parameters(), p => Assert.True(p.grad is not null && p.grad.isfinite().all().item<bool>()));
    }
}
