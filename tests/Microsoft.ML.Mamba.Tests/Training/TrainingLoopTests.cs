using Microsoft.ML.Mamba.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Training;

/// <summary>The shared training loop on a toy model: stopping, validation, schedules, clipping, frozen parameters.</summary>
public class TrainingLoopTests
{
    // Two weights and a frozen one; named like a model's so the weight-decay rule applies ("norm.weight" is not decayed).
    private sealed class Toy : nn.Module
    {
        public readonly Parameter weight, frozen;
        public readonly Linear norm;
        public Toy() : base("toy")
        {
            weight = nn.Parameter(tensor(new float[] { 1, 2, 3, 4 }));
            frozen = nn.Parameter(tensor(new float[] { 5, 6 }), requires_grad: false);
            norm = nn.Linear(2, 1);
            RegisterComponents();
        }
    }

    private static TrainingLoopOptions Options(int steps) => new()
    {
        Schedule = LearningRateSchedule.Constant(0.1), TotalSteps = steps, WeightDecay = 0.01,
    };

    // (w - 0)² summed: every step moves the weights towards zero.
    private static Tensor Loss(Toy model) => model.weight.pow(2).sum() + model.norm.weight.pow(2).sum() + model.frozen.sum();

    private static IEnumerable<int> Endless() { while (true) yield return 0; }

    [Fact]
    public void EarlyStoppingRestoresTheBestWeights()
    {
        using var model = new Toy();
        float[]? atBest = null;
        double[] metrics = [3, 1, 2, 5, 6, 0.5];   // best at the second check, then two without improvement
        int calls = 0;
        using var loop = new TrainingLoop(model, Options(10) with { ValidateEvery = 1, EarlyStoppingPatience = 2, RestoreBestWeights = true });
        var outcome = loop.Run(_ => Endless(), _ => Loss(model), () =>
        {
            double metric = metrics[calls++];
            if (calls == 2) atBest = model.weight.detach().clone().data<float>().ToArray();
            return new ValidationResult(metric);
        });
        Assert.Equal(TrainingStopReason.EarlyStopping, outcome.StopReason);
        Assert.Equal(4, outcome.Steps);
        Assert.Equal(2, outcome.BestStep);
        Assert.Equal(new double[] { 3, 1, 2, 5 }, outcome.Validations);
        Assert.Equal(atBest, model.weight.data<float>().ToArray());
    }

    [Fact]
    public void WithoutRestoreTheLastWeightsStay()
    {
        using var model = new Toy();
        double[] metrics = [3, 1, 2, 5];
        int calls = 0;
        float[]? atBest = null;
        using var loop = new TrainingLoop(model, Options(10) with { ValidateEvery = 1, EarlyStoppingPatience = 2 });
        loop.Run(_ => Endless(), _ => Loss(model), () =>
        {
            if (calls == 1) atBest = model.weight.detach().clone().data<float>().ToArray();
            return new ValidationResult(metrics[calls++]);
        });
        Assert.NotEqual(atBest, model.weight.data<float>().ToArray());
    }

    [Fact]
    public void ValidatesEveryNStepsAndStopsWhenAsked()
    {
        using var model = new Toy();
        var validatedAt = new List<int>();
        using var loop = new TrainingLoop(model, Options(10) with { ValidateEvery = 3, HigherIsBetter = true, OnStep = s => { if (s.Validation is not null) validatedAt.Add(s.Step); } });
        var outcome = loop.Run(_ => Endless(), _ => Loss(model), () => new ValidationResult(0.5));
        Assert.Equal(new[] { 3, 6, 9 }, validatedAt);
        Assert.Equal(TrainingStopReason.AllSteps, outcome.StopReason);
        Assert.Equal(10, outcome.Steps);

        using var model2 = new Toy();
        using var asked = new TrainingLoop(model2, Options(10) with { ValidateEvery = 2, HigherIsBetter = true });
        var stopped = asked.Run(_ => Endless(), _ => Loss(model2), () => new ValidationResult(0.9, Stop: asked.Step >= 4));
        Assert.Equal(TrainingStopReason.ValidationRequest, stopped.StopReason);
        Assert.Equal(4, stopped.Steps);
    }

    [Fact]
    public void ValidatesAfterEachEpochByDefault()
    {
        using var model = new Toy();
        using var loop = new TrainingLoop(model, Options(9) with { MaxEpochs = 3 });
        int validations = 0;
        var outcome = loop.Run(_ => new[] { 1, 2, 3 }, _ => Loss(model), () => new ValidationResult(10 - validations++));
        Assert.Equal(3, validations);
        Assert.Equal(3, outcome.EpochLosses.Count);
        Assert.Equal(3, outcome.BestEpoch);
    }

    [Fact]
    public void NonFiniteLossNamesItsStepEvenWhenReadLater()
    {
        using var model = new Toy();
        using var loop = new TrainingLoop(model, Options(10) with { LossReadEvery = 3 });
        var error = Assert.Throws<NonFiniteLossException>(() =>
            loop.Run(_ => Endless(), _ => loop.Step + 1 == 4 ? Loss(model) * double.NaN : Loss(model)));
        Assert.Equal(4, error.Step);
        Assert.Contains("at step 4", error.Message);
        Assert.Equal(6, loop.Step);   // read back with steps 5 and 6, then stopped
    }

    [Fact]
    public void CancellationStopsBeforeTheNextStep()
    {
        using var model = new Toy();
        using var cancel = new CancellationTokenSource();
        using var loop = new TrainingLoop(model, Options(10) with { CancellationToken = cancel.Token, OnStep = s => { if (s.Step == 2) cancel.Cancel(); } });
        Assert.ThrowsAny<OperationCanceledException>(() => loop.Run(_ => Endless(), _ => Loss(model)));
        Assert.Equal(2, loop.Step);

        bool canceled = false;
        using var model2 = new Toy();
        using var other = new TrainingLoop(model2, Options(10) with { IsCanceled = () => canceled, OnStep = s => canceled = s.Step == 3 });
        Assert.ThrowsAny<OperationCanceledException>(() => other.Run(_ => Endless(), _ => Loss(model2)));
        Assert.Equal(3, other.Step);
    }

    [Fact]
    public void FrozenParametersAreUntouchedAndLeftOutOfTheOptimiser()
    {
        using var model = new Toy();
        var before = model.weight.detach().clone();
        using var loop = new TrainingLoop(model, Options(3));
        loop.Run(_ => Endless(), _ => Loss(model));
        Assert.Equal(new float[] { 5, 6 }, model.frozen.data<float>().ToArray());
        Assert.False(model.weight.allclose(before));
        Assert.DoesNotContain(loop.Optimizer.parameters(), p => ReferenceEquals(p, model.frozen));
    }

    [Fact]
    public void WeightDecaySkipsNormsAndBiasesAndZeroDecayKeepsOneGroupInModelOrder()
    {
        using var model = new Toy();
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        var groups = TrainingLoop.Groups(trainable, Options(1));
        Assert.Equal(2, groups.Count);
        Assert.Equal(0.01, groups[0].Options.weight_decay);
        Assert.Same(model.weight, groups[0].Parameters.Single());
        Assert.Equal(0, groups[1].Options.weight_decay);
        Assert.Equal(2, groups[1].Parameters.Count());   // norm.weight and norm.bias

        var one = TrainingLoop.Groups(trainable, Options(1) with { WeightDecay = 0 }).Single();
        Assert.Equal(trainable.Select(p => p.parameter), one.Parameters);
    }

    [Fact]
    public void ClippingBoundsTheGradientNorm()
    {
        double GradientNorm(double maxNorm)
        {
            using var model = new Toy();
            using var loop = new TrainingLoop(model, Options(1) with { MaxGradientNorm = maxNorm });
            loop.Run(_ => Endless(), _ => Loss(model) * 1000);
            var grads = model.parameters().Where(p => p.grad is not null).Select(p => p.grad!.pow(2).sum().item<float>());
            return Math.Sqrt(grads.Sum());
        }
        Assert.True(GradientNorm(0) > 1000);
        Assert.Equal(1.0, GradientNorm(1.0), 3);
    }

    [Fact]
    public void EachStepUsesTheScheduleAndAReplacedScheduleFromTheNextStep()
    {
        using var model = new Toy();
        var rates = new List<double>();
        TrainingLoop? loop = null;
        loop = new TrainingLoop(model, Options(6) with
        {
            Schedule = new LearningRateSchedule(1.0, 6, 2, LearningRateDecay.Linear),
            OnStep = s => { rates.Add(loop!.Optimizer.ParamGroups.First().LearningRate); if (s.Step == 4) loop.Schedule = LearningRateSchedule.Constant(0.01); },
        });
        using (loop) loop.Run(_ => Endless(), _ => Loss(model));
        Assert.Equal(new[] { 0.5, 1.0, 1.0, 0.75, 0.01, 0.01 }, rates);
    }

    [Fact]
    public void ScheduleWarmsUpAndDecaysToItsFloor()
    {
        var cosine = new LearningRateSchedule(2.0, 110, 10, LearningRateDecay.Cosine, floor: 0.1);
        Assert.Equal(0.2, cosine.At(0), 12);
        Assert.Equal(2.0, cosine.At(9), 12);
        Assert.Equal(2.0, cosine.At(10), 12);
        Assert.Equal(2.0 * (0.1 + 0.9 * 0.5), cosine.At(60), 12);
        Assert.Equal(0.2, cosine.At(110), 12);
        Assert.Equal(0.2, cosine.At(500), 12);
        // A time limit half used brings the decay at least half-way.
        Assert.Equal(2.0 * (0.1 + 0.9 * 0.5), cosine.At(10, timeProgress: 0.5), 12);
        var linear = new LearningRateSchedule(1.0, 10, 0, LearningRateDecay.Linear, floor: 0.5);
        Assert.Equal(0.75, linear.At(5), 12);
        Assert.Equal(0.3, LearningRateSchedule.Constant(0.3).At(1000), 12);
        Assert.Equal(10, LearningRateSchedule.WarmupStepsOf(100, 0.1));
    }

    [Fact]
    public void TimeLimitEndsAfterTheStepThatRunsPastIt()
    {
        using var model = new Toy();
        using var loop = new TrainingLoop(model, Options(1000) with { TimeLimit = TimeSpan.Zero });
        var outcome = loop.Run(_ => Endless(), _ => Loss(model));
        Assert.Equal(TrainingStopReason.TimeLimit, outcome.StopReason);
        Assert.Equal(1, outcome.Steps);
    }
}
