using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Text;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Training;

/// <summary>The parts fine-tuning is made of, below ML.NET: discriminative learning rates, the epoch schedule, head dropout, domain-adaptive pretraining.</summary>
public class FineTuningPartsTests
{
    private sealed class Toy : nn.Module
    {
        public readonly Parameter weight;
        public readonly Linear norm;
        public Toy() : base("toy")
        {
            weight = nn.Parameter(tensor(new float[] { 1, 2, 3, 4 }));
            norm = nn.Linear(2, 1);
            RegisterComponents();
        }
    }

    private static IEnumerable<int> Endless() { while (true) yield return 0; }

    [Fact]
    public void EachParameterTrainsAtItsShareOfTheScheduledRate()
    {
        using var model = new Toy();
        var before = model.weight.detach().clone();
        var options = new TrainingLoopOptions
        {
            Schedule = LearningRateSchedule.Constant(0.1), TotalSteps = 1, WeightDecay = 0,
            LearningRateScale = name => name == "weight" ? 0.25 : 1,
        };
        using var loop = new TrainingLoop(model, options);
        loop.Run(_ => Endless(), _ => model.weight.sum() + model.norm.weight.sum());
        Assert.Equal(new[] { 0.025, 0.1 }, loop.Optimizer.ParamGroups.Select(g => Math.Round(g.LearningRate, 6)).ToArray());
        // Adam's first step moves each weight by about its learning rate.
        var moved = (before - model.weight).abs().data<float>().ToArray();
        Assert.All(moved, m => Assert.Equal(0.025, m, 3));
    }

    [Fact]
    public void WithoutScalesTheGroupsAreTheTwoWeightDecayGroups()
    {
        using var model = new Toy();
        var trainable = model.named_parameters().ToList();
        var options = new TrainingLoopOptions { Schedule = LearningRateSchedule.Constant(0.1), TotalSteps = 1, WeightDecay = 0.01 };
        var groups = TrainingLoop.Groups(trainable, options);
        Assert.Equal(2, groups.Count);
        Assert.Equal(new[] { 0.01, 0.0 }, groups.Select(g => g.Options.weight_decay!.Value).ToArray());
    }

    [Fact]
    public void DiscriminativeRatesSlowTheBackboneAndDecayPerLayerDownwards()
    {
        var scale = ParameterGroups.DiscriminativeLearningRates(layerCount: 3, backboneFactor: 0.5, layerDecay: 0.8);
        Assert.Equal(1.0, scale("score.weight"));
        Assert.Equal(0.5, scale("backbone.norm_f.weight"), 9);
        Assert.Equal(0.5, scale("backbone.layers.2.mixer.in_proj.weight"), 9);
        Assert.Equal(0.5 * 0.8, scale("backbone.layers.1.norm.weight"), 9);
        Assert.Equal(0.5 * 0.64, scale("backbone.layers.0.mixer.A_log"), 9);
        Assert.Equal(0.5 * 0.512, scale("backbone.embeddings.weight"), 9);
    }

    [Fact]
    public void PlanningMoreEpochsDoesNotStretchTheWarmUp()
    {
        var three = LearningRateSchedule.ForEpochs(1e-3, stepsPerEpoch: 30, epochs: 3, warmupFraction: 0.1, LearningRateDecay.Cosine);
        var ten = LearningRateSchedule.ForEpochs(1e-3, stepsPerEpoch: 30, epochs: 10, warmupFraction: 0.1, LearningRateDecay.Cosine);
        var one = LearningRateSchedule.ForEpochs(1e-3, stepsPerEpoch: 30, epochs: 1, warmupFraction: 0.1, LearningRateDecay.Cosine);
        Assert.Equal(9, three.WarmupSteps);
        Assert.Equal(9, ten.WarmupSteps);
        Assert.Equal(3, one.WarmupSteps);
        Assert.Equal(300, ten.TotalSteps);
        Assert.Equal(three.At(8), ten.At(8));
    }

    [Fact]
    public void HeadDropoutActsInTrainingOnly()
    {
        using var network = TorchGlobalRandom.Seeded(3, () => new MambaForSequenceClassification(TinyConfigs.Tiny(256), 2, SequencePooling.Mean));
        var ids = tensor(Enumerable.Range(0, 40).Select(i => (long)(i * 7 % 256)).ToArray(), new long[] { 4, 10 });
        network.eval();
        var plain = network.forward(ids, null).data<float>().ToArray();
        network.HeadDropout = 0.5;
        Assert.Equal(plain, network.forward(ids, null).data<float>().ToArray());   // evaluation: no dropout
        network.train();
        Assert.NotEqual(plain, network.forward(ids, null).data<float>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => network.HeadDropout = 1);
    }

    [Fact]
    public void DomainAdaptivePretrainingTeachesTheBackboneTheRowsText()
    {
        var bytes = MambaTokenizers.Bytes();
        using var network = TorchGlobalRandom.Seeded(4, () => new MambaForSequenceClassification(TinyConfigs.Tiny(bytes.VocabularySize), 2));
        var texts = Enumerable.Range(0, 60).Select(i => $"the service was {(i % 2 == 0 ? "great" : "awful")} today").ToList();
        var head = network.score.weight!.detach().clone();
        double LanguageModelLoss()
        {
            using var lm = new MambaForCausalLM(network.Config);
            var target = lm.backbone.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            using (no_grad()) foreach (var (name, p) in network.backbone.named_parameters()) target[name].copy_(p);
            var ids = tensor(bytes.Encode(texts[0]).Select(i => (long)i).ToArray()).unsqueeze(0);
            using var _ = no_grad();
            var logits = lm.forward(ids.narrow(1, 0, ids.shape[1] - 1), null);
            return nn.functional.cross_entropy(logits.squeeze(0), ids.squeeze(0).narrow(0, 1, ids.shape[1] - 1)).item<float>();
        }
        double before = LanguageModelLoss();
        var options = new DomainAdaptivePretrainingOptions { Steps = 30, LearningRate = 1e-2, WarmupFraction = 0.05, BlockLength = 24, BatchSize = 8 };
        var result = DomainAdaptivePretrainer.Run(network.backbone, network.Config, null, texts, bytes, options, seed: 1, CPU, CancellationToken.None);
        Assert.NotNull(result);
        Assert.Equal(30, result.Steps);
        Assert.True(LanguageModelLoss() < before - 1, $"next-token loss {before:F3} -> {LanguageModelLoss():F3}");
        Assert.Equal(head.data<float>().ToArray(), network.score.weight!.data<float>().ToArray());   // the head waits for the labels
    }

    [Fact]
    public void DomainAdaptivePretrainingNeedsSomeText()
    {
        var e = Assert.Throws<ArgumentException>(() => new DomainAdaptivePretrainingOptions { IncludeTrainingRows = false }.Validate());
        Assert.Contains("UnlabeledTexts", e.Message);
    }
}
