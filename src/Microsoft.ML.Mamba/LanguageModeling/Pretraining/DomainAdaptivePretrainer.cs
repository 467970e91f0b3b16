using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// Runs <see cref="DomainAdaptivePretrainingOptions"/> on a classifier's backbone with the library's <see cref="Pretrainer"/>:
/// the texts are packed into a temporary token file, a language model around a copy of the backbone (tied to its
/// embeddings, or with the checkpoint's own output layer when it has one) learns the next token, and the backbone's
/// weights are copied back.
/// </summary>
internal static class DomainAdaptivePretrainer
{
    /// <summary>Adapts <paramref name="backbone"/> in place; null when the texts hold too few tokens to train on.</summary>
    public static PretrainingResult? Run(MambaModel backbone, MambaConfig config, string? checkpointDirectory, IEnumerable<string> texts,
        IMambaTokenizer tokenizer, DomainAdaptivePretrainingOptions options, int seed, Device device, CancellationToken cancellation,
        IProgress<PretrainingProgress>? progress = null)
    {
        options.Validate();
        string folder = Path.Combine(Path.GetTempPath(), "mamba-dapt-" + Guid.NewGuid().ToString("N"));
        try
        {
            var data = PretrainingData.Prepare(texts, tokenizer, folder,
                new PretrainingDataOptions { HeldOutFraction = 0, CancellationToken = cancellation });
            if (data.TrainTokens < 2) return null;
            using var train = PackedTokenFile.Open(data.TrainPath);
            // An untied checkpoint's output layer is part of what it learnt; a tied one (or a new network) needs none.
            using var model = TorchGlobalRandom.Seeded(seed, () => !config.TieWordEmbeddings && checkpointDirectory is not null
                ? MambaForCausalLM.FromPretrained(checkpointDirectory) : new MambaForCausalLM(config));
            Copy(backbone, model.backbone);
            var pretrainer = new Pretrainer(model, new PretrainingOptions
            {
                BlockLength = (int)Math.Min(options.BlockLength, data.TrainTokens - 1),
                BatchSize = options.BatchSize,
                MaxSteps = options.Steps,
                LearningRate = options.LearningRate,
                WarmupFraction = options.WarmupFraction,
                MinLearningRateRatio = 0.1,
                WeightDecay = options.WeightDecay,
                Seed = seed,
                Device = device,
                DType = backbone.parameters().First().dtype,
                EvaluateEvery = 0,
                CheckpointEvery = 0,
                Progress = progress,
                CancellationToken = cancellation,
            });
            var result = pretrainer.Train(train);
            Copy(model.backbone, backbone);
            return result;
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { }   // a temporary folder left behind is harmless
            catch (UnauthorizedAccessException) { }
        }
    }

    private static void Copy(MambaModel from, MambaModel to)
    {
        var target = to.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var _ = no_grad();
        foreach (var (name, p) in from.named_parameters()) target[name].copy_(p);
    }
}
