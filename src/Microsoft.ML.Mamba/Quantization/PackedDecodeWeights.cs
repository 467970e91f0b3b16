using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Quantization;

/// <summary>
/// The packed decoding weights of one <see cref="MambaForCausalLM"/> (<see cref="MambaForCausalLM.PrepareDecodeWeights"/>):
/// each mixer's packed step (<see cref="PackedMixerStep"/> for Mamba-1, <see cref="PackedMamba2Step"/> for Mamba-2,
/// installed on the mixer) and the vocabulary projection.
/// </summary>
internal sealed class PackedDecodeWeights : IDisposable
{
    // A packed step, how many weight bytes it reads, and how to install it on its mixer and take it off again.
    private sealed record Installed(IDisposable Step, long WeightBytes, Action Install, Action Uninstall);

    private readonly List<Installed> _mixers;

    private PackedDecodeWeights(DecodeWeights format, PackedProjection lmHead, List<Installed> mixers)
    {
        Format = format;
        LmHead = lmHead;
        _mixers = mixers;
    }

    /// <summary>The storage format.</summary>
    public DecodeWeights Format { get; }

    /// <summary>The vocabulary projection (the tied embeddings, or lm_head).</summary>
    public PackedProjection LmHead { get; }

    /// <summary>Weight bytes one decoding step reads through packed projections (mixers and vocabulary).</summary>
    public long WeightBytes => LmHead.WeightBytes + _mixers.Sum(m => m.WeightBytes);

    /// <summary>
    /// Packs <paramref name="model"/>'s projections, or returns null after a warning that says why the model keeps its
    /// own weights (a CUDA or non-fp32 model, or no native library). Layers whose mixer has no packed step keep theirs,
    /// also with a warning.
    /// </summary>
    public static PackedDecodeWeights? Prepare(MambaForCausalLM model, DecodeWeights format)
    {
        var head = model.OutputEmbeddings;
        string? reason = head.device_type != DeviceType.CPU
            ? $"the model is on {head.device}; int8 and bf16 decode weights are a CPU feature, so CUDA decoding keeps the model's own weights"
            : model.parameters().FirstOrDefault(p => p.is_floating_point() && p.dtype != ScalarType.Float32) is { } other
            ? $"the model has {other.dtype} parameters; packed decode weights are made from fp32 ones (convert with model.to(ScalarType.Float32) first)"
            : !NativeLibraryLoader.IsLoaded
            ? $"the native kernels are not available ({NativeLibraryLoader.FailureReason})"
            : null;
        if (reason is not null)
        {
            MambaLog.Warning($"decode weights {format} not used: {reason}; decoding uses fp32 weights");
            return null;
        }
        var mixers = new List<Installed>();
        PackedProjection? lmHead = null;
        try
        {
            lmHead = PackedProjection.Pack(head, null, format, "the vocabulary projection");
            for (int i = 0; i < model.Backbone.layers.Count; i++)
            {
                switch (model.Backbone.layers[i].mixer)
                {
                    case MambaMixer mixer:
                        var step = PackedMixerStep.TryCreate(mixer, format, out var why);
                        if (step is null)
                        {
                            MambaLog.Warning($"decode weights {format}: layer {i} keeps its own weights ({why})");
                            continue;
                        }
                        mixers.Add(new Installed(step, step.WeightBytes, () => mixer.PackedStep = step,
                            () => { if (ReferenceEquals(mixer.PackedStep, step)) mixer.PackedStep = null; }));
                        break;
                    case Mamba2Mixer mixer2:
                        var step2 = PackedMamba2Step.Create(mixer2, format);
                        mixers.Add(new Installed(step2, step2.WeightBytes, () => mixer2.PackedStep = step2,
                            () => { if (ReferenceEquals(mixer2.PackedStep, step2)) mixer2.PackedStep = null; }));
                        break;
                    default:
                        MambaLog.Warning($"decode weights {format}: layer {i} has a {model.Backbone.layers[i].mixer.GetType().Name}, which keeps its own weights");
                        break;
                }
            }
        }
        catch (EntryPointNotFoundException e)
        {
            // An older native library without the packed kernels.
            lmHead?.Dispose();
            foreach (var m in mixers) m.Step.Dispose();
            MambaLog.Warning($"decode weights {format} not used: the native library lacks the packed kernels ({e.Message}); decoding uses fp32 weights");
            return null;
        }
        catch
        {
            lmHead?.Dispose();
            foreach (var m in mixers) m.Step.Dispose();
            throw;
        }
        foreach (var m in mixers) m.Install();
        return new PackedDecodeWeights(format, lmHead, mixers);
    }

    /// <summary>Takes the packed steps off the mixers and releases every packed weight.</summary>
    public void Dispose()
    {
        foreach (var m in _mixers)
        {
            m.Uninstall();
            m.Step.Dispose();
        }
        _mixers.Clear();
        LmHead.Dispose();
    }
}
