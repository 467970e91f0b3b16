using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Generation;

/// <summary>
/// Picks the next token of every row of a batch from its logits: repetition penalty, then (when sampling)
/// temperature, top-k and top-p, then argmax or a draw from the row's own seeded <see cref="Generator"/>.
/// It remembers which tokens each row has seen (prompt and output) for the repetition penalty.
/// </summary>
internal sealed class TokenSampler : IDisposable
{
    private readonly SamplingOptions _options;
    private readonly List<Generator> _generators = [];
    private Tensor? _seen;   // (rows, vocab) bool; only kept when the repetition penalty is on

    /// <param name="options">The sampling settings (validated here).</param>
    /// <param name="batchSize">Rows in the batch; row r samples with seed <c>Seed + r</c>.</param>
    /// <param name="vocabularySize">Width of the logits.</param>
    /// <param name="device">Where the logits live.</param>
    public TokenSampler(SamplingOptions options, int batchSize, long vocabularySize, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        device ??= CPU;
        if (!options.IsGreedy)
        {
            long seed = options.Seed ?? Random.Shared.Next();
            // CPU generators whatever the device: TorchSharp 0.107 makes a CPU generator even when asked for a CUDA one
            // (multinomial on CUDA then fails), and drawing on the CPU gives the same tokens on every device for a seed.
            for (int r = 0; r < batchSize; r++) _generators.Add(new Generator((ulong)(seed + r), CPU));
        }
        if (options.RepetitionPenalty != 1f)
            _seen = zeros(batchSize, vocabularySize, dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
    }

    /// <summary>Marks the prompt's tokens as seen. <paramref name="attentionMask"/> (0 = padding) may be null.</summary>
    public void ObservePrompt(Tensor inputIds, Tensor? attentionMask)
    {
        if (_seen is null) return;
        using var scope = NewDisposeScope();
        // scatter_add of the mask, so a padding id that is also a real token still counts where it is real.
        var weight = attentionMask?.to_type(ScalarType.Float32) ?? ones(inputIds.shape, dtype: ScalarType.Float32, device: inputIds.device);
        var counts = zeros(_seen.shape, dtype: ScalarType.Float32, device: _seen.device).scatter_add_(1, inputIds, weight);
        _seen.logical_or_(counts > 0);
    }

    /// <summary>The logits after the penalty and (unless greedy) temperature, top-k and top-p.</summary>
    /// <param name="logits">(rows, vocab) fp32; not modified.</param>
    public Tensor Process(Tensor logits)
    {
        using var scope = NewDisposeScope();
        var x = logits;
        if (_seen is not null) x = ApplyRepetitionPenalty(x, _seen, _options.RepetitionPenalty);
        if (!_options.IsGreedy)
        {
            x = ApplyTemperature(x, _options.Temperature);
            if (_options.TopK > 0) x = ApplyTopK(x, _options.TopK);
            if (_options.TopP < 1f) x = ApplyTopP(x, _options.TopP);
        }
        return ReferenceEquals(x, logits) ? x.alias().MoveToOuterDisposeScope() : x.MoveToOuterDisposeScope();
    }

    /// <summary>Chooses the next token of each row and records it as seen.</summary>
    /// <param name="logits">(rows, vocab) next-token logits.</param>
    /// <returns>(rows) int64 token ids, on the logits' device.</returns>
    public Tensor Next(Tensor logits)
    {
        using var scope = NewDisposeScope();
        var processed = Process(logits);
        Tensor next;
        if (_options.IsGreedy)
        {
            next = processed.argmax(-1);
            // argmax picks NaN and +inf first, and -inf only when a row has nothing finite: checking the chosen logits
            // catches every bad row for (rows) values instead of scanning (rows, vocab) of them (25 ms a token on 2 cores).
            ThrowIfNotFinite(processed.gather(-1, next.unsqueeze(-1)));
        }
        else
        {
            var probs = processed.softmax(-1);
            // One draw per row from the row's own generator: a row's tokens do not depend on the rest of the batch.
            // The draw runs on the CPU (rows × vocab floats copied once per step; the loop reads the tokens back anyway).
            var hostProbs = probs.device_type == DeviceType.CPU ? probs : probs.cpu();
            // NaN or +inf logits, or a row of only -inf, give NaN probabilities, which the CPU multinomial refuses.
            try
            {
                next = _generators.Count == 1
                    ? hostProbs.multinomial(1, generator: _generators[0]).view(-1)
                    : cat(_generators.Select((g, r) => hostProbs[r].multinomial(1, generator: g)).ToArray(), 0);
            }
            catch (System.Runtime.InteropServices.ExternalException e) { throw NotFinite(e); }
            if (next.device != logits.device) next = next.to(logits.device);
        }
        _seen?.scatter_(1, next.unsqueeze(1), ones(next.shape[0], 1, dtype: ScalarType.Bool, device: next.device));
        return next.MoveToOuterDisposeScope();
    }

    private static void ThrowIfNotFinite(Tensor chosen)
    {
        using var allFinite = chosen.isfinite().all();
        if (!allFinite.item<bool>()) throw NotFinite(null);
    }

    private static InvalidOperationException NotFinite(Exception? inner) => new(
        "The model produced logits that are NaN or infinite (or a row with no finite logit), so no token can be chosen; " +
        "its weights may be corrupt or have overflowed.", inner);

    /// <summary>Keeps only the given rows (indices into the current batch), in that order.</summary>
    public void KeepRows(IReadOnlyList<int> rows, Tensor rowsTensor)
    {
        if (_generators.Count > 0)
        {
            var kept = rows.Select(r => _generators[r]).ToList();
            foreach (var g in _generators.Except(kept)) g.Dispose();
            _generators.Clear();
            _generators.AddRange(kept);
        }
        if (_seen is not null)
        {
            var seen = _seen.index_select(0, rowsTensor).DetachFromDisposeScope();
            _seen.Dispose();
            _seen = seen;
        }
    }

    /// <summary>Hugging Face's repetition penalty: seen tokens' logits are divided by <paramref name="penalty"/> when positive, multiplied when negative.</summary>
    /// <param name="logits">(rows, vocab).</param>
    /// <param name="seen">(rows, vocab) bool: true for tokens already in the row.</param>
    /// <param name="penalty">&gt; 1 discourages repeats; 1 changes nothing.</param>
    public static Tensor ApplyRepetitionPenalty(Tensor logits, Tensor seen, float penalty)
    {
        using var scope = NewDisposeScope();
        // Explicit scalars, alive through each call (see Interop/TorchScalars): this runs once per generated token.
        using var zero = 0f.ToScalar();
        using var factor = penalty.ToScalar();
        var penalised = where(logits.lt(zero), logits.mul(factor), logits.div(factor));
        return where(seen, penalised, logits).MoveToOuterDisposeScope();
    }

    /// <summary>Divides the logits by <paramref name="temperature"/> (&gt; 0): below 1 sharpens, above 1 flattens.</summary>
    public static Tensor ApplyTemperature(Tensor logits, float temperature)
    {
        if (!(temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "Use argmax for temperature 0.");
        if (temperature == 1f) return logits.alias();
        using var divisor = temperature.ToScalar();
        return logits.div(divisor);
    }

    /// <summary>Sets every logit below the <paramref name="k"/>-th largest of its row to -∞ (ties with it are kept).</summary>
    public static Tensor ApplyTopK(Tensor logits, int k)
    {
        if (k <= 0 || k >= logits.shape[^1]) return logits.alias();
        using var scope = NewDisposeScope();
        var kth = logits.topk(k, dim: -1).values.narrow(-1, k - 1, 1);
        using var minusInfinity = float.NegativeInfinity.ToScalar();
        return logits.masked_fill(logits.lt(kth), minusInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Nucleus filtering as Hugging Face does it: sorts each row ascending and drops tokens while the probability mass
    /// up to and including them stays ≤ 1 - <paramref name="p"/>; the most likely token always survives.
    /// </summary>
    public static Tensor ApplyTopP(Tensor logits, float p)
    {
        if (p >= 1f) return logits.alias();
        using var scope = NewDisposeScope();
        var (sorted, order) = logits.sort(-1, descending: false);
        using var keptMass = (1 - p).ToScalar();
        using var keep = false.ToScalar();
        using var minusInfinity = float.NegativeInfinity.ToScalar();
        var remove = sorted.softmax(-1).cumsum(-1).le(keptMass);
        remove.narrow(-1, remove.shape[^1] - 1, 1).fill_(keep);
        var removeInPlace = remove.scatter(-1, order, remove);
        return logits.masked_fill(removeInPlace, minusInfinity).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var g in _generators) g.Dispose();
        _generators.Clear();
        _seen?.Dispose();
        _seen = null;
    }
}
