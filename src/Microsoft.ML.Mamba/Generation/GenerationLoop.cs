using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Generation;

/// <summary>
/// Token-level batched generation: prompts of different lengths are left-padded and masked into one
/// <see cref="MambaForCausalLM.Prefill"/>, then every step feeds each row's newest token to
/// <see cref="MambaForCausalLM.Step"/>. Finished rows leave the batch (<see cref="MambaCache.SelectRows"/>), so the
/// cost of a step follows the rows still running. Each step reads the chosen tokens back to the host once.
/// </summary>
/// <remarks>
/// Runs are not serialised: do not call <see cref="Run"/> from several threads on one model at the same time
/// (<see cref="MambaGenerator"/> takes a lock for that).
/// </remarks>
public sealed class GenerationLoop
{
    private readonly MambaForCausalLM _model;
    private readonly int _choosable;   // logits past this column belong to padding embeddings

    /// <param name="model">The language model; its weights decide the device.</param>
    /// <param name="vocabularySize">
    /// The ids the tokenizer can decode; larger ids are never chosen. Checkpoints often pad their embeddings past the
    /// tokenizer's vocabulary (to a multiple of 8), and a padding row must not become a token. Null: every embedding.
    /// </param>
    public GenerationLoop(MambaForCausalLM model, int? vocabularySize = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        if (vocabularySize is < 1) throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "must be at least 1");
        _choosable = Math.Min(vocabularySize ?? model.Config.VocabSize, model.Config.VocabSize);
        // CPU decoding allocates the same large buffers every token; glibc would otherwise unmap and re-fault them each
        // time (measured: 20 ms against 38 ms per token of a 4-layer, 768-wide model on 2 cores).
        if (model.OutputEmbeddings.device_type == DeviceType.CPU) Interop.GlibcAllocator.KeepLargeBuffers();
    }

    /// <summary>
    /// Decode Mamba-1 and Mamba-2 models on CUDA with the native whole-model decoder (one native call per token, replayed
    /// from a CUDA graph) when it supports the model; the TorchSharp step otherwise. Default true. Both choose the same tokens
    /// up to ties within rounding; false keeps the TorchSharp step as a reference.
    /// </summary>
    public bool UseNativeDecoder { get; set; } = true;

    /// <summary>
    /// The largest batch the native decoder takes (default 16); larger batches decode with the TorchSharp step, which was
    /// faster there on an H100 (130M shape, batch 64: 30,804 against 11,055 tokens/s in bf16; see docs/results/2026-12-07-decode.md).
    /// </summary>
    public int NativeDecoderMaxBatch
    {
        get => _nativeDecoderMaxBatch;
        set => _nativeDecoderMaxBatch = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(NativeDecoderMaxBatch), value, "must be at least 1");
    }
    private int _nativeDecoderMaxBatch = 16;

    /// <summary>Called for each new token of a row (original row index, token id); return true to stop that row (a stop string).</summary>
    public delegate bool TokenCallback(int row, int tokenId);

    /// <summary>Generates after each prompt.</summary>
    /// <param name="prompts">Token ids, at least one per prompt.</param>
    /// <param name="options">Sampling and length settings.</param>
    /// <param name="stopTokenIds">Ids that end a row; they are not added to its output.</param>
    /// <param name="onToken">Optional per-token hook (streaming, stop strings).</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    public IReadOnlyList<GeneratedSequence> Run(
        IReadOnlyList<IReadOnlyList<int>> prompts,
        SamplingOptions options,
        IReadOnlyCollection<int>? stopTokenIds = null,
        TokenCallback? onToken = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var results = prompts.Select(p => new GeneratedSequence(p ?? throw new ArgumentNullException(nameof(prompts)))).ToArray();
        if (results.Any(r => r.PromptIds.Count == 0))
            throw new ArgumentException("Every prompt needs at least one token (start empty prompts with a BOS token).", nameof(prompts));
        if (results.Length == 0 || options.MaxNewTokens == 0) return results;
        var stops = new HashSet<int>(stopTokenIds ?? []);
        foreach (var id in options.StopTokenIds) stops.Add(id);

        using var _ = no_grad();
        var device = _model.Backbone.norm_f.weight.device;   // a field: no new tensor handle, unlike a module's weight getter
        int batch = results.Length;
        using var sampler = new TokenSampler(options, batch, _choosable, device);
        using var cache = _model.Backbone.NewCache(batch, device);
        var active = Enumerable.Range(0, batch).ToList();   // original row of each batch row
        Tensor? logits = null;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            logits = Prefill(results, sampler, cache, device);
            if (NativeDecoderOrWhyNot(batch) is null)
            {
                RunNative(results, options, stops, onToken, sampler, cache, logits, cancellationToken);
                return results;
            }
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var next = sampler.Next(_choosable < _model.Config.VocabSize ? logits.narrow(-1, 0, _choosable) : logits);
                logits.Dispose();
                logits = null;
                var chosen = next.cpu().data<long>().ToArray();

                var keep = new List<int>(active.Count);
                for (int i = 0; i < active.Count; i++)
                {
                    var row = results[active[i]];
                    int token = (int)chosen[i];
                    if (stops.Contains(token)) { row.FinishReason = FinishReason.StopToken; continue; }
                    row.Tokens.Add(token);
                    if (onToken?.Invoke(active[i], token) == true) { row.FinishReason = FinishReason.StopString; continue; }
                    if (row.Tokens.Count >= options.MaxNewTokens) { row.FinishReason = FinishReason.MaxNewTokens; continue; }
                    keep.Add(i);
                }
                if (keep.Count == 0) break;
                if (keep.Count < active.Count)
                {
                    var rows = tensor(keep.Select(i => (long)i).ToArray(), device: device);
                    cache.SelectRows(rows);
                    sampler.KeepRows(keep, rows);
                    next = next.index_select(0, rows);
                    active = keep.Select(i => active[i]).ToList();
                }
                logits = _model.Step(next, cache).DetachFromDisposeScope();
            }
        }
        finally
        {
            logits?.Dispose();
        }
        return results;
    }

    // Null when the native decoder runs this model; otherwise why not (logged once when the model is on CUDA).
    private string? NativeDecoderOrWhyNot(int batch)
    {
        if (!UseNativeDecoder) return "turned off";
        // A field, not OutputEmbeddings: a module's weight getter makes a tensor handle each call.
        if (_model.Backbone.norm_f.weight.device_type != DeviceType.CUDA) return "not on CUDA";
        if (batch > NativeDecoderMaxBatch) return $"batch {batch} is above NativeDecoderMaxBatch ({NativeDecoderMaxBatch})";   // no warning: a choice
        var reason = CudaDecoder.Unsupported(_model);
        if (reason is not null)
            MambaLog.WarningOnce("decoder:" + reason, $"native CUDA decoder not used ({reason}); decoding with the TorchSharp step");
        return reason;
    }

    // The decoding loop on the native decoder, from the prefill's logits on. Its rows stay the original rows; `active`
    // maps the sampler's rows to them. Greedy decoding without a repetition penalty chooses on the device and reads back
    // only the ids; any other sampling reads the decoder's logits through the same TokenSampler as the TorchSharp loop.
    private void RunNative(GeneratedSequence[] results, SamplingOptions options, HashSet<int> stops, TokenCallback? onToken,
        TokenSampler sampler, MambaCache cache, Tensor prefillLogits, CancellationToken cancellationToken)
    {
        int batch = results.Length;
        bool deviceGreedy = options.IsGreedy && options.RepetitionPenalty == 1f;
        var device = prefillLogits.device;
        var active = Enumerable.Range(0, batch).ToList();
        var hostNext = new long[batch];
        long[] chosen;
        using (NewDisposeScope())
            chosen = sampler.Next(_choosable < _model.Config.VocabSize ? prefillLogits.narrow(-1, 0, _choosable) : prefillLogits)
                .cpu().data<long>().ToArray();
        var firstTokens = chosen;
        CudaDecoder? decoder = null;   // made at the first step: a single new token needs none
        Tensor? activeRows = null;
        try
        {
            while (true)
            {
                var keep = new List<int>(active.Count);
                for (int i = 0; i < active.Count; i++)
                {
                    var row = results[active[i]];
                    long token = chosen[i];
                    if (token < 0) throw token == -1 ? NotFinite() : new InvalidOperationException($"row {active[i]} fed the decoder an id outside the vocabulary");
                    if (stops.Contains((int)token)) { row.FinishReason = FinishReason.StopToken; continue; }
                    row.Tokens.Add((int)token);
                    if (onToken?.Invoke(active[i], (int)token) == true) { row.FinishReason = FinishReason.StopString; continue; }
                    if (row.Tokens.Count >= options.MaxNewTokens) { row.FinishReason = FinishReason.MaxNewTokens; continue; }
                    keep.Add(i);
                }
                if (keep.Count == 0) return;
                if (keep.Count < active.Count)
                {
                    if (!deviceGreedy)
                    {
                        using var rows = tensor(keep.Select(i => (long)i).ToArray(), device: device);
                        sampler.KeepRows(keep, rows);
                    }
                    active = keep.Select(i => active[i]).ToList();
                    activeRows?.Dispose();
                    activeRows = tensor(active.Select(r => (long)r).ToArray(), device: device);
                }
                cancellationToken.ThrowIfCancellationRequested();
                if (decoder is null)
                {
                    decoder = new CudaDecoder(_model, batch, _choosable, withLogits: !deviceGreedy);
                    decoder.LoadState(cache);
                    using var first = tensor(firstTokens, device: device);
                    decoder.Tokens.copy_(first);
                }
                if (deviceGreedy)
                {
                    decoder.Step(hostNext);
                    chosen = active.Count == batch ? hostNext : active.Select(r => hostNext[r]).ToArray();
                    continue;
                }
                decoder.Step(null);
                using var scope = NewDisposeScope();
                var logits = activeRows is null ? decoder.Logits! : decoder.Logits!.index_select(0, activeRows);
                var next = sampler.Next(_choosable < _model.Config.VocabSize ? logits.narrow(-1, 0, _choosable) : logits);
                if (activeRows is null) decoder.Tokens.copy_(next);
                else decoder.Tokens.index_copy_(0, activeRows, next);
                chosen = next.cpu().data<long>().ToArray();
            }
        }
        finally
        {
            activeRows?.Dispose();
            decoder?.Dispose();
        }
    }

    private static InvalidOperationException NotFinite() => new(
        "The model produced logits that are NaN or infinite (or a row with no finite logit), so no token can be chosen; " +
        "its weights may be corrupt or have overflowed.");

    // Left padding keeps every prompt's last token in the last column, whose logits start decoding.
    private Tensor Prefill(GeneratedSequence[] rows, TokenSampler sampler, MambaCache cache, Device device)
    {
        using var scope = NewDisposeScope();
        int batch = rows.Length, length = rows.Max(r => r.PromptIds.Count);
        var ids = new long[batch * length];
        var mask = new long[batch * length];
        bool padded = false;
        for (int r = 0; r < batch; r++)
        {
            var prompt = rows[r].PromptIds;
            int offset = length - prompt.Count;
            padded |= offset > 0;
            for (int t = 0; t < prompt.Count; t++)
            {
                ids[r * length + offset + t] = prompt[t];
                mask[r * length + offset + t] = 1;
            }
        }
        var idsTensor = tensor(ids, new long[] { batch, length }, device: device);
        var maskTensor = padded ? tensor(mask, new long[] { batch, length }, device: device) : null;
        sampler.ObservePrompt(idsTensor, maskTensor);
        // Only the last position's logits are needed: projecting the whole prompt onto the vocabulary would cost length × vocab.
        var last = _model.Backbone.Prefill(idsTensor, maskTensor, cache).select(1, length - 1);
        var weight = _model.OutputEmbeddings;
        return nn.functional.linear(last.to_type(weight.dtype), weight).to_type(ScalarType.Float32).DetachFromDisposeScope();
    }
}
