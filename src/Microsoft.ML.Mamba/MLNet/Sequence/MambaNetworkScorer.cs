using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using Microsoft.ML.Mamba.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Turns row texts into model outputs in batches: tokenize, truncate, right-pad with a mask, one forward pass
/// per batch. The task object turns each batch's output into scores: class probabilities (multiclass), the
/// logit (binary) or the value in the label's units (regression).
/// </summary>
internal sealed class MambaNetworkScorer
{
    private readonly object _lock = new();

    public MambaNetworkScorer(MambaForSequenceClassification network, IMambaTokenizer tokenizer, SequenceTask task,
        int maxSequenceLength, TargetScaling scaling, Device device, double temperature = 1)
    {
        Network = network; Tokenizer = tokenizer; Task = task; MaxSequenceLength = maxSequenceLength;
        Scaling = scaling; Device = device; Temperature = temperature;
        PadId = tokenizer.PadTokenId ?? 0;
        FillerId = tokenizer.BosTokenId ?? tokenizer.EosTokenId ?? PadId;
    }

    public MambaForSequenceClassification Network { get; }
    public IMambaTokenizer Tokenizer { get; }
    public SequenceTask Task { get; }
    public int MaxSequenceLength { get; }
    /// <summary>How training targets were scaled; the task maps predictions back with it.</summary>
    public TargetScaling Scaling { get; }
    public Device Device { get; }
    /// <summary>Classification logits are divided by it before scores are formed (temperature scaling; 1 = none).</summary>
    public double Temperature { get; }
    public int PadId { get; }
    /// <summary>Token fed for an empty text, so every row has a last token to pool.</summary>
    public int FillerId { get; }

    /// <summary>Token ids of a text, keeping the first <see cref="MaxSequenceLength"/> tokens.</summary>
    public int[] Tokenize(string text)
    {
        var ids = Tokenizer.Encode(text);
        int n = Math.Min(ids.Count, MaxSequenceLength);
        var result = new int[n];
        for (int i = 0; i < n; i++) result[i] = ids[i];
        return result;
    }

    /// <summary>Forward passes run so far (lets tests check that scoring is batched).</summary>
    internal int ForwardPasses;

    /// <summary>Scores texts, <paramref name="batchSize"/> rows per forward pass (sorted by length inside the call).</summary>
    public float[][] Score(IReadOnlyList<string> texts, int batchSize) =>
        Run(texts.Select(Tokenize).ToArray(), batchSize, output =>
        {
            if (Temperature != 1 && Task.Kind != MambaTask.Regression) output = output / Temperature;
            return Task.ToScores(output, Scaling);
        });

    /// <summary>The network's raw outputs (logits) for token sequences already cut to <see cref="MaxSequenceLength"/>.</summary>
    public float[][] Logits(IReadOnlyList<int[]> tokens, int batchSize) =>
        Run(tokens, batchSize, output => output.to(float32).cpu().data<float>().ToArray());

    private float[][] Run(IReadOnlyList<int[]> tokens, int batchSize, Func<Tensor, float[]> convert)
    {
        var results = new float[tokens.Count][];
        var batches = LengthBucketBatcher.MakeBatches(tokens.Select(t => t.Length).ToArray(), batchSize, null);
        lock (_lock)
        {
            Network.eval();
            using var noGrad = torch.no_grad();
            foreach (var batch in batches)
            {
                using var scope = torch.NewDisposeScope();
                var (ids, mask) = PaddedBatch.Create(batch.Select(i => tokens[i]).ToArray(), PadId, FillerId, Device);
                var output = Network.forward(ids, mask);
                ForwardPasses++;
                var values = convert(output);
                int width = (int)output.shape[1];
                for (int b = 0; b < batch.Length; b++) results[batch[b]] = values.AsSpan(b * width, width).ToArray();
            }
        }
        return results;
    }
}
