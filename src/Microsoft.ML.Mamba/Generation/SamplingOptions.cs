namespace Microsoft.ML.Mamba.Generation;

/// <summary>
/// How tokens are chosen and when generation stops. The defaults sample at temperature 1 with no filtering;
/// set <see cref="Temperature"/> to 0 (or use <see cref="Greedy"/>) for deterministic argmax decoding.
/// </summary>
/// <remarks>
/// Logits are processed in the order Hugging Face transformers uses: repetition penalty, then temperature,
/// top-k and top-p. Greedy decoding applies only the repetition penalty before taking the argmax.
/// </remarks>
public sealed class SamplingOptions
{
    /// <summary>Divides the logits before sampling; 0 means greedy (argmax). Default 1.</summary>
    public float Temperature { get; set; } = 1f;

    /// <summary>Keeps only the <c>TopK</c> most likely tokens; 0 keeps all. Default 0.</summary>
    public int TopK { get; set; }

    /// <summary>Nucleus sampling: keeps the smallest set of most likely tokens whose probability reaches <c>TopP</c>; 1 keeps all.</summary>
    public float TopP { get; set; } = 1f;

    /// <summary>
    /// Penalises tokens already in the prompt or the output (Hugging Face semantics): their positive logits are divided
    /// by this value and their negative logits multiplied by it. 1 turns it off.
    /// </summary>
    public float RepetitionPenalty { get; set; } = 1f;

    /// <summary>
    /// Seeds the sampler. Row <c>r</c> of a batch draws from a generator seeded with <c>Seed + r</c>, so generating
    /// prompt <c>r</c> alone with seed <c>Seed + r</c> gives the same tokens. Null picks a fresh seed each call.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>The most tokens generated per prompt (stop tokens not counted). Default 64.</summary>
    public int MaxNewTokens { get; set; } = 64;

    /// <summary>Token ids that end a row's generation; they are not part of the output.</summary>
    public IReadOnlyList<int> StopTokenIds { get; set; } = [];

    /// <summary>Also stop at the tokenizer's end-of-sequence id, when it has one. Default true.</summary>
    public bool StopAtEndOfSequence { get; set; } = true;

    /// <summary>Texts that end a row's generation; the output text is cut just before the first one found.</summary>
    public IReadOnlyList<string> StopStrings { get; set; } = [];

    /// <summary>True when <see cref="Temperature"/> is 0: every step takes the most likely token.</summary>
    public bool IsGreedy => Temperature == 0f;

    /// <summary>Greedy decoding of up to <paramref name="maxNewTokens"/> tokens.</summary>
    public static SamplingOptions Greedy(int maxNewTokens = 64) => new() { Temperature = 0f, MaxNewTokens = maxNewTokens };

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0f) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be finite and ≥ 0 (0 = greedy).");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be ≥ 0 (0 = off).");
        if (!(TopP > 0f && TopP <= 1f)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!(RepetitionPenalty > 0f) || float.IsInfinity(RepetitionPenalty))
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "RepetitionPenalty must be finite and > 0 (1 = off).");
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be ≥ 0.");
        ArgumentNullException.ThrowIfNull(StopTokenIds, nameof(StopTokenIds));
        ArgumentNullException.ThrowIfNull(StopStrings, nameof(StopStrings));
        if (StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("Stop strings must not be null or empty.", nameof(StopStrings));
    }

    /// <summary>A copy that can be changed without touching this instance.</summary>
    public SamplingOptions Clone() => (SamplingOptions)MemberwiseClone();
}
