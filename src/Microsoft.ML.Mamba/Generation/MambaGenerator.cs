using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Quantization;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Generation;

/// <summary>
/// Text in, text out: encodes prompts, runs the batched <see cref="GenerationLoop"/>, and decodes the results,
/// honouring stop tokens (the tokenizer's end-of-sequence id included) and stop strings. Also streams one
/// prompt's continuation piece by piece.
/// </summary>
/// <remarks>
/// <para>
/// Thread safety: one generator may be used from several threads at once. Its calls (<see cref="Generate(string, SamplingOptions?, CancellationToken)"/>,
/// the batched overload and each <see cref="StreamAsync"/>'s generation) take a lock and run one after another, so every
/// call gives the result it would give alone; to run prompts side by side, pass them together to the batched overload.
/// A <see cref="SamplingOptions"/> instance must not be changed while a call that uses it runs.
/// </para>
/// <para>
/// The lock covers only this generator: two generators (or a generator and training) sharing one
/// <see cref="MambaForCausalLM"/> must not run at the same time, and the model must not be disposed while a call runs.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// var generator = new MambaGenerator(model, MambaTokenizers.Gpt2());
/// var result = generator.Generate("In the beginning", new SamplingOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 1 });
/// await foreach (var piece in generator.StreamAsync("And God said", SamplingOptions.Greedy(40))) Console.Write(piece);
/// </code>
/// </example>
public sealed class MambaGenerator
{
    private readonly GenerationLoop _loop;

    // Serialises generation: the model and its native kernels are not documented as safe for concurrent use.
    private readonly object _lock = new();

    /// <param name="model">The language model.</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <exception cref="ArgumentException">The tokenizer has more ids than the model has embeddings.</exception>
    public MambaGenerator(MambaForCausalLM model, IMambaTokenizer tokenizer)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        AI.MambaLanguageModelFolder.CheckFits(model, tokenizer);   // a clear error instead of "index out of range in self"
        _loop = new GenerationLoop(model, tokenizer.VocabularySize);
    }

    /// <summary>
    /// A generator that decodes with the projections stored as <paramref name="decodeWeights"/> (on the CPU; see
    /// <see cref="MambaForCausalLM.PrepareDecodeWeights"/>, which this calls on <paramref name="model"/>).
    /// </summary>
    /// <param name="model">The language model (fp32, for int8 or bf16 decode weights).</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <param name="decodeWeights">How per-token decoding stores the large projections.</param>
    public MambaGenerator(MambaForCausalLM model, IMambaTokenizer tokenizer, DecodeWeights decodeWeights) : this(model, tokenizer)
    {
        model.PrepareDecodeWeights(decodeWeights);
    }

    /// <summary>The language model.</summary>
    public MambaForCausalLM Model { get; }

    /// <summary>The tokenizer.</summary>
    public IMambaTokenizer Tokenizer { get; }

    /// <summary>Continues one prompt.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting of <paramref name="options"/> is out of range (see <see cref="SamplingOptions.Validate"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="InvalidOperationException">The model produced NaN or infinite logits.</exception>
    public GenerationResult Generate(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default) =>
        Generate([prompt], options, cancellationToken)[0];

    /// <summary>Continues several prompts together as one left-padded batch.</summary>
    /// <returns>One result per prompt, in order.</returns>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<string> prompts, SamplingOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        options ??= new SamplingOptions();
        options.Validate();
        var detokenizers = prompts.Select(_ => new IncrementalDetokenizer(Tokenizer, options.StopStrings)).ToArray();
        var encoded = prompts.Select(Encode).ToArray();
        lock (_lock)
        {
            var sequences = _loop.Run(encoded, options, StopTokens(options), StopStringHook(detokenizers, piece: null), cancellationToken);
            return sequences.Select((s, r) =>
            {
                detokenizers[r].Finish();
                return new GenerationResult(prompts[r], s.TokenIds, detokenizers[r].Text, s.FinishReason);
            }).ToArray();
        }
    }

    /// <summary>
    /// Streams one prompt's continuation as text pieces, each made only of whole characters; the pieces concatenate
    /// to <see cref="Generate(string, SamplingOptions?, CancellationToken)"/>'s text. Generation runs on a worker
    /// thread and stops at the next token once <paramref name="cancellationToken"/> is cancelled or the consumer stops.
    /// </summary>
    public async IAsyncEnumerable<string> StreamAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new SamplingOptions();
        options.Validate();
        var ids = Encode(prompt);
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var detokenizer = new IncrementalDetokenizer(Tokenizer, options.StopStrings);
        var worker = Task.Run(() =>
        {
            try
            {
                lock (_lock)
                {
                    _loop.Run([ids], options, StopTokens(options),
                        StopStringHook([detokenizer], piece => channel.Writer.TryWrite(piece)), stop.Token);
                    var rest = detokenizer.Finish();
                    if (rest.Length > 0) channel.Writer.TryWrite(rest);
                }
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var piece in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // Pieces already queued must not outlive a cancellation either.
                cancellationToken.ThrowIfCancellationRequested();
                yield return piece;
            }
        }
        finally
        {
            // The consumer left early (break or cancellation): stop the worker and let it release its tensors.
            stop.Cancel();
            await worker.ConfigureAwait(false);   // never throws: its errors travel through the channel
        }
    }

    private IReadOnlyList<int> Encode(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var ids = Tokenizer.Encode(prompt);
        if (ids.Count > 0) return ids;
        return Tokenizer.BosTokenId is int bos
            ? [bos]
            : throw new ArgumentException("The prompt is empty and the tokenizer has no BOS token to start from.", nameof(prompt));
    }

    private IReadOnlyCollection<int> StopTokens(SamplingOptions options)
    {
        var stops = new HashSet<int>(options.StopTokenIds);
        if (options.StopAtEndOfSequence && Tokenizer.EosTokenId is int eos) stops.Add(eos);
        return stops;
    }

    // Feeds each row's tokens to its detokenizer; a found stop string ends that row.
    private static GenerationLoop.TokenCallback StopStringHook(IncrementalDetokenizer[] detokenizers, Action<string>? piece) =>
        (row, token) =>
        {
            var text = detokenizers[row].Push(token);
            if (piece is not null && text.Length > 0) piece(text);
            return detokenizers[row].StopStringFound;
        };
}
