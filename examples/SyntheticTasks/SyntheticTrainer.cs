using System.Diagnostics;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// The training and evaluation loop shared by every synthetic task: fresh random batches each step (there is no
/// fixed training set to overfit), Adam at a constant learning rate, cross-entropy on the scored positions only.
/// </summary>
public static class SyntheticTrainer
{
    /// <summary>Evaluation batches hold at most this many tokens, so very long test sequences use smaller batches.</summary>
    public const long EvalTokensPerBatch = 1 << 18;

    /// <summary>Builds the variant's model (weights seeded by <see cref="TrainingOptions.Seed"/>) and trains it.</summary>
    public static TrainingResult Train(ISyntheticTask task, ModelVariant variant, TrainingOptions options, Device device, TextWriter? log = null)
    {
        torch.random.manual_seed(options.Seed);
        var config = variant.Config(task.VocabSize, options.Layers, options.ModelDimension, options.StateSize);
        var model = new MambaForCausalLM(config, device);
        var evaluationKernels = model.Backbone.Kernels;
        if (MambaKernels.Default is ReferenceKernels) model.Backbone.Kernels = new ReferenceKernels(options.ReferenceScanChunk);
        model.train();
        using var optimizer = optim.Adam(model.parameters(), options.LearningRate);
        var data = new Random(options.Seed);
        var recentLosses = new Queue<double>();
        var clock = Stopwatch.StartNew();
        for (int step = 1; step <= options.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var (inputs, targets) = task.Sample(data, options.BatchSize, options.TrainLength).ToTensors(device);
            optimizer.zero_grad();
            var loss = Loss(model.forward(inputs, null), targets);
            loss.backward();
            optimizer.step();

            double value = loss.item<float>();
            if (!double.IsFinite(value)) throw new InvalidOperationException($"{variant.Name}: loss became {value} at step {step}");
            recentLosses.Enqueue(value);
            if (recentLosses.Count > 50) recentLosses.Dequeue();
            if (log is not null && options.LogEvery > 0 && (step % options.LogEvery == 0 || step == options.Steps))
                log.WriteLine($"  [{variant.Name}] step {step,6}/{options.Steps}  loss {recentLosses.Average():F4}  ({clock.Elapsed.TotalSeconds:F0} s)");
        }
        model.eval();
        model.Backbone.Kernels = evaluationKernels;   // without autograd the default chunking is the faster one
        return new TrainingResult(variant, model, options.Steps, recentLosses.Average(), clock.Elapsed);
    }

    /// <summary>Cross-entropy over the scored positions; <see cref="SyntheticBatch.Ignore"/> marks the rest.</summary>
    public static Tensor Loss(Tensor logits, Tensor targets) =>
        nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1),
            ignore_index: SyntheticBatch.Ignore);

    /// <summary>
    /// Fraction of scored positions where the most likely token is the target, over <paramref name="sequences"/>
    /// fresh sequences of <paramref name="length"/> drawn from <paramref name="random"/>.
    /// </summary>
    public static double Accuracy(MambaForCausalLM model, ISyntheticTask task, int length, int sequences, int maxBatchSize,
        Random random, Device device)
    {
        using var _ = no_grad();
        model.eval();
        int batchSize = (int)Math.Clamp(EvalTokensPerBatch / length, 1, maxBatchSize);
        long correct = 0, scored = 0;
        for (int done = 0; done < sequences; done += batchSize)
        {
            using var scope = NewDisposeScope();
            int size = Math.Min(batchSize, sequences - done);
            var (inputs, targets) = task.Sample(random, size, length).ToTensors(device);
            var predicted = model.forward(inputs, null).argmax(-1);
            var mask = targets.ne(SyntheticBatch.Ignore);
            correct += predicted.eq(targets).logical_and(mask).sum().item<long>();
            scored += mask.sum().item<long>();
        }
        return scored == 0 ? double.NaN : (double)correct / scored;
    }

    /// <summary>The evaluation data's seed: separate from training data, different for each length, reproducible.</summary>
    public static int EvaluationSeed(int seed, int length) => unchecked(seed * 7919 + length * 31 + 104729);
}
