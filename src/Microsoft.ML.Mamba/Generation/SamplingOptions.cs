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
    /// <summary>Divides the logits before sampling; 0 means greedy (argmax), otherwise at least <see cref="MinTemperature"/>. Default 1.</summary>
    public float Temperature { get; set; } = 1f;

    /// <summary>Keeps only the <c>TopK</c> most likely tokens; 0 keeps all. Default 0.</summary>
    public int TopK { get; set; }

    /// <summary>Nucleus sampling: keeps the smallest set of most likely tokens whose probability reaches <c>TopP</c>; 1 keeps all.</summary>
    public float TopP { get; set; } = 1f;

    /// <summary>
    /// Penalises tokens already in the prompt or the output (Hugging Face semantics): their positive logits are divided
    /// by this value and their negative logits multiplied by it. 1 turns it off; allowed from <see cref="MinRepetitionPenalty"/>
    /// to <see cref="MaxRepetitionPenalty"/>.
    /// </summary>
    public float RepetitionPenalty { get; set; } = 1f;

    /// <summary>
    /// Seeds the sampler. Row <c>r</c> of a batch draws from a generator seeded with <c>Seed + r</c>, so generating
    /// prompt <c>r</c> alone with seed <c>Seed + r</c> gives the same tokens. Null picks a fresh seed each call.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>The most tokens generated per prompt (stop tokens not counted), at most <see cref="MaxNewTokensLimit"/>. Default 64.</summary>
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

    /// <summary>The smallest non-zero <see cref="Temperature"/>: dividing logits by less overflows them to infinity.</summary>
    public const float MinTemperature = 1e-4f;

    /// <summary>The smallest <see cref="RepetitionPenalty"/>; below it, dividing a seen token's logit overflows.</summary>
    public const float MinRepetitionPenalty = 1e-3f;

    /// <summary>The largest <see cref="RepetitionPenalty"/>; above it, multiplying a seen token's logit overflows.</summary>
    public const float MaxRepetitionPenalty = 1e3f;

    /// <summary>The largest <see cref="TopK"/> (2^24, the largest vocabulary a tokenizer may have); any value ≥ the vocabulary keeps all.</summary>
    public const int MaxTopK = 1 << 24;

    /// <summary>The largest <see cref="MaxNewTokens"/>: 1,000,000.</summary>
    public const int MaxNewTokensLimit = 1_000_000;

    /// <summary>The most entries in <see cref="StopTokenIds"/>.</summary>
    public const int MaxStopTokenIds = 65_536;

    /// <summary>The most entries in <see cref="StopStrings"/>; each is searched for after every token.</summary>
    public const int MaxStopStrings = 64;

    /// <summary>The longest stop string, in UTF-16 characters.</summary>
    public const int MaxStopStringLength = 1_024;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming the first setting out of range: <see cref="Temperature"/> 0
    /// or in [<see cref="MinTemperature"/>, ∞); <see cref="TopK"/> in [0, <see cref="MaxTopK"/>]; <see cref="TopP"/> in (0, 1];
    /// <see cref="RepetitionPenalty"/> in [<see cref="MinRepetitionPenalty"/>, <see cref="MaxRepetitionPenalty"/>];
    /// <see cref="MaxNewTokens"/> in [0, <see cref="MaxNewTokensLimit"/>]; at most <see cref="MaxStopTokenIds"/> stop ids and
    /// <see cref="MaxStopStrings"/> stop strings of 1 to <see cref="MaxStopStringLength"/> characters
    /// (<see cref="ArgumentNullException"/> or <see cref="ArgumentException"/> for null lists and null or empty strings).
    /// Generation calls this before doing anything, so the sampler never sees such values.
    /// </summary>
    public void Validate()
    {
        // Temperatures below the minimum are refused rather than treated as greedy: a silent switch would hide a mistake.
        if (!(Temperature == 0f || (Temperature >= MinTemperature && float.IsFinite(Temperature))))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
                $"Temperature must be 0 (greedy) or finite and ≥ {MinTemperature} (smaller values overflow the logits).");
        if (TopK is < 0 or > MaxTopK) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, $"TopK must be from 0 (off) to {MaxTopK:N0}.");
        if (!(TopP > 0f && TopP <= 1f)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!(RepetitionPenalty >= MinRepetitionPenalty && RepetitionPenalty <= MaxRepetitionPenalty))
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty,
                $"RepetitionPenalty must be from {MinRepetitionPenalty} to {MaxRepetitionPenalty} (1 = off); values outside overflow the logits.");
        if (MaxNewTokens is < 0 or > MaxNewTokensLimit)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, $"MaxNewTokens must be from 0 to {MaxNewTokensLimit:N0}.");
        ArgumentNullException.ThrowIfNull(StopTokenIds, nameof(StopTokenIds));
        ArgumentNullException.ThrowIfNull(StopStrings, nameof(StopStrings));
        if (StopTokenIds.Count > MaxStopTokenIds)
            throw new ArgumentOutOfRangeException(nameof(StopTokenIds), StopTokenIds.Count, $"At most {MaxStopTokenIds:N0} stop token ids are allowed.");
        if (StopStrings.Count > MaxStopStrings)
            throw new ArgumentOutOfRangeException(nameof(StopStrings), StopStrings.Count, $"At most {MaxStopStrings} stop strings are allowed.");
        if (StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("Stop strings must not be null or empty.", nameof(StopStrings));
        if (StopStrings.FirstOrDefault(s => s.Length > MaxStopStringLength) is { } tooLong)
            throw new ArgumentOutOfRangeException(nameof(StopStrings), tooLong.Length, $"Stop strings may be at most {MaxStopStringLength:N0} characters long.");
    }

    /// <summary>A copy that can be changed without touching this instance.</summary>
    public SamplingOptions Clone() => (SamplingOptions)MemberwiseClone();
}
