using System.Diagnostics;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.LanguageModeling;

/// <summary>
/// Trains a <see cref="MambaForCausalLM"/> to predict the next token of <see cref="TokenBlocks"/>: shuffled full
/// blocks, AdamW (no decay on A_log, D, norms and biases; beta2 0.95), linear warm-up then cosine decay to a tenth,
/// gradient clipping (the library's one training loop). <see cref="Loss"/> gives the mean validation loss, whose
/// exponential is the perplexity.
/// </summary>
public sealed class LanguageModelTrainer
{
    private readonly MambaForCausalLM _model;
    private readonly LanguageModelTrainingOptions _options;

    /// <param name="model">The model to train in place.</param>
    /// <param name="options">Training settings.</param>
    public LanguageModelTrainer(MambaForCausalLM model, LanguageModelTrainingOptions options)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
    }

    /// <summary>Trains on the full blocks of <paramref name="train"/>; returns what happened.</summary>
    public LanguageModelTrainingResult Train(TokenBlocks train)
    {
        ArgumentNullException.ThrowIfNull(train);
        var full = Enumerable.Range(0, train.Count).Where(i => train[i].Length == train.BlockLength + 1).ToArray();
        if (full.Length == 0) throw new ArgumentException($"The training text has fewer than {train.BlockLength + 1} tokens: no full block to learn from.", nameof(train));
        int stepsPerEpoch = (full.Length + _options.BatchSize - 1) / _options.BatchSize;
        int totalSteps = _options.MaxSteps > 0 ? _options.MaxSteps : stepsPerEpoch * _options.NumberOfEpochs;

        var random = new Random(_options.Seed);
        var clock = Stopwatch.StartNew();
        double recentLoss = 0, lastLoss = double.NaN; int recentCount = 0; long tokens = 0;
        var lastReport = TimeSpan.Zero;
        using var loop = new TrainingLoop(_model, new TrainingLoopOptions
        {
            // Cosine to a tenth of the peak; with a time limit it follows whichever runs out first, steps or time.
            Schedule = new LearningRateSchedule(_options.LearningRate, totalSteps,
                LearningRateSchedule.WarmupStepsOf(totalSteps, _options.WarmupFraction), LearningRateDecay.Cosine, floor: 0.1),
            WeightDecay = _options.WeightDecay,
            Beta2 = 0.95,
            MaxGradientNorm = _options.MaxGradientNorm,
            TotalSteps = totalSteps,
            TimeLimit = _options.TimeLimit,
            CancellationToken = _options.CancellationToken,
            OnLoss = (_, loss) => { recentLoss += loss; recentCount++; lastLoss = loss; },
            OnStep = s =>
            {
                if (s.Step % 10 == 0 || s.IsLast || clock.Elapsed - lastReport > TimeSpan.FromSeconds(20))
                {
                    _options.Progress?.Report(new LanguageModelTrainingProgress(s.Step, totalSteps, recentLoss / recentCount,
                        tokens / clock.Elapsed.TotalSeconds));
                    recentLoss = 0; recentCount = 0; lastReport = clock.Elapsed;
                }
            },
        });
        // Each epoch the full blocks in a new random order, in batches of BatchSize (the last may be smaller).
        var outcome = loop.Run(_ => full.OrderBy(_ => random.Next()).Chunk(_options.BatchSize), batch => BatchLoss(train, batch),
            examplesIn: batch => { tokens += (long)batch.Length * train.BlockLength; return batch.Length; });
        return new LanguageModelTrainingResult(outcome.Steps, lastLoss, tokens, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed);
    }

    /// <summary>Mean next-token loss (nats per predicted token) over every block; exp of it is the perplexity.</summary>
    public double Loss(TokenBlocks blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.Count == 0) throw new ArgumentException("No blocks to evaluate.", nameof(blocks));
        bool wasTraining = _model.training;
        _model.eval();
        double sum = 0; long predictions = 0;
        using (no_grad())
        {
            // Blocks of equal length batch together (all but possibly the last).
            foreach (var group in Enumerable.Range(0, blocks.Count).GroupBy(i => blocks[i].Length))
                foreach (var batch in group.Chunk(_options.BatchSize))
                    using (NewDisposeScope())
                    {
                        long count = (long)batch.Length * (group.Key - 1);
                        sum += BatchLoss(blocks, batch).item<float>() * count;
                        predictions += count;
                    }
        }
        if (wasTraining) _model.train();
        return sum / predictions;
    }

    // Mean cross-entropy of predicting tokens 1..n from tokens 0..n-1 of each block.
    private Tensor BatchLoss(TokenBlocks blocks, int[] batch)
    {
        int width = blocks[batch[0]].Length;
        var ids = new long[batch.Length * width];
        for (int b = 0; b < batch.Length; b++)
        {
            var block = blocks[batch[b]];
            for (int t = 0; t < width; t++) ids[b * width + t] = block[t];
        }
        var device = _model.Backbone.norm_f.weight.device;
        var all = tensor(ids, new long[] { batch.Length, width }, device: device);
        var logits = _model.forward(all.narrow(1, 0, width - 1), null);
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), all.narrow(1, 1, width - 1).reshape(-1));
    }
}
