using System.Diagnostics;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.LanguageModeling;

/// <summary>
/// Trains a <see cref="MambaForCausalLM"/> to predict the next token of <see cref="TokenBlocks"/>: shuffled full
/// blocks, AdamW (no decay on A_log, D, norms and biases), linear warm-up then cosine decay to a tenth, gradient
/// clipping. <see cref="Loss"/> gives the mean validation loss, whose exponential is the perplexity.
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

        var named = _model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        var decayed = named.Where(p => !NoDecay(p.name)).Select(p => p.parameter).ToList();
        var notDecayed = named.Where(p => NoDecay(p.name)).Select(p => p.parameter).ToList();
        using var optimizer = new FusedAdamW(new[]
        {
            new AdamW.ParamGroup(decayed, new AdamW.Options { LearningRate = _options.LearningRate, weight_decay = _options.WeightDecay }),
            new AdamW.ParamGroup(notDecayed, new AdamW.Options { LearningRate = _options.LearningRate, weight_decay = 0 }),
        }, _options.LearningRate, beta1: 0.9, beta2: 0.95);  // TorchSharp's AdamW with a one-call native step

        var random = new Random(_options.Seed);
        var clock = Stopwatch.StartNew();
        double recentLoss = 0, lastLoss = double.NaN; int recentCount = 0, step = 0; long tokens = 0;
        var lastReport = TimeSpan.Zero;
        _model.train();
        while (step < totalSteps)
        {
            var order = full.OrderBy(_ => random.Next()).ToArray();
            for (int start = 0; start < order.Length && step < totalSteps; start += _options.BatchSize)
            {
                _options.CancellationToken.ThrowIfCancellationRequested();
                if (_options.TimeLimit is { } limit && clock.Elapsed >= limit) { totalSteps = step; break; }
                foreach (var group in optimizer.ParamGroups) group.LearningRate = LearningRateAt(step, totalSteps, clock.Elapsed);
                var batch = order.Skip(start).Take(_options.BatchSize).ToArray();
                double loss;
                using (NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var lossTensor = BatchLoss(train, batch);
                    lossTensor.backward();
                    if (_options.MaxGradientNorm > 0) nn.utils.clip_grad_norm_(named.Select(p => p.parameter), _options.MaxGradientNorm);
                    optimizer.step();
                    loss = lossTensor.item<float>();
                }
                if (!double.IsFinite(loss)) throw new InvalidOperationException($"The training loss became {loss} at step {step + 1}; lower the learning rate.");
                step++;
                tokens += (long)batch.Length * train.BlockLength;
                recentLoss += loss; recentCount++; lastLoss = loss;
                if (step % 10 == 0 || step == totalSteps || clock.Elapsed - lastReport > TimeSpan.FromSeconds(20))
                {
                    _options.Progress?.Report(new LanguageModelTrainingProgress(step, totalSteps, recentLoss / recentCount, tokens / clock.Elapsed.TotalSeconds));
                    recentLoss = 0; recentCount = 0; lastReport = clock.Elapsed;
                }
            }
        }
        _model.eval();
        return new LanguageModelTrainingResult(step, lastLoss, tokens, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed);
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

    // With a time limit the cosine follows whichever runs out first, steps or time, so a cut-short run still anneals.
    private double LearningRateAt(int step, int totalSteps, TimeSpan elapsed)
    {
        double peak = _options.LearningRate;
        if (step < _options.WarmupSteps) return peak * (step + 1) / _options.WarmupSteps;
        double progress = (step - _options.WarmupSteps) / (double)Math.Max(1, totalSteps - _options.WarmupSteps);
        if (_options.TimeLimit is { } limit) progress = Math.Max(progress, elapsed / limit);
        return peak * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
    }

    private static bool NoDecay(string name) => ParameterGroups.IsExcludedFromWeightDecay(name);
}
