using System.Text;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Generation;

/// <summary>
/// Turns one row's tokens, as they arrive, into text pieces that are safe to show: a UTF-8 character split over
/// several tokens is held back until it is complete, and text that might be the start of a stop string is held
/// back until it is known not to be one. The pieces concatenate to <see cref="Text"/>.
/// </summary>
internal sealed class IncrementalDetokenizer
{
    // A UTF-8 character spans at most 4 bytes; past this many held tokens the bytes are invalid for good, so they are let out.
    private const int MaxHeldTokens = 8;
    private const char Replacement = '\uFFFD';

    private readonly IMambaTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _stopStrings;
    private readonly int _longestStop;
    private readonly List<int> _held = [];
    private readonly StringBuilder _text = new();
    private int _emitted;

    /// <param name="tokenizer">Decodes the tokens.</param>
    /// <param name="stopStrings">Texts that end generation; the text is cut just before the first one.</param>
    public IncrementalDetokenizer(IMambaTokenizer tokenizer, IReadOnlyList<string>? stopStrings = null)
    {
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _stopStrings = stopStrings ?? [];
        _longestStop = _stopStrings.Count == 0 ? 0 : _stopStrings.Max(s => s.Length);
    }

    /// <summary>True once the text contains a stop string; later tokens are ignored.</summary>
    public bool StopStringFound { get; private set; }

    /// <summary>All text decoded so far (cut at a stop string), including what is still held back.</summary>
    public string Text => _text.ToString();

    /// <summary>Adds one token; returns the text that became safe to show (often empty).</summary>
    public string Push(int tokenId)
    {
        if (StopStringFound) return "";
        _held.Add(tokenId);
        string decoded = _tokenizer.Decode(_held);
        // A trailing U+FFFD usually means a character whose remaining bytes are still to come.
        if (decoded.Length > 0 && decoded[^1] == Replacement)
        {
            if (_held.Count < MaxHeldTokens) return "";
            // Held too long: the older bytes are invalid for good, but the newest may still begin a character.
            // Let out the longest run of held tokens that decodes the same on its own, and keep the rest.
            var (split, released) = LongestIndependentPrefix(decoded);
            if (split > 0)
            {
                _held.RemoveRange(0, split);
                Append(released);
                return TakeSafe(final: false);
            }
        }
        _held.Clear();
        Append(decoded);
        return TakeSafe(final: false);
    }

    // The largest k < held count where decoding the first k held tokens and the rest separately gives the same text
    // as decoding them together: no character (or invalid byte run) crosses that point, and, since the tokens after
    // it are already here, none ever will. Returns k and the first k tokens' text; k is 0 when there is none.
    private (int Count, string Text) LongestIndependentPrefix(string decodedTogether)
    {
        for (int k = _held.Count - 1; k > 0; k--)
        {
            string head = _tokenizer.Decode(_held.GetRange(0, k));
            if (decodedTogether.StartsWith(head, StringComparison.Ordinal)
                && string.Equals(decodedTogether[head.Length..], _tokenizer.Decode(_held.GetRange(k, _held.Count - k)), StringComparison.Ordinal))
                return (k, head);
        }
        return (0, "");
    }

    /// <summary>Releases everything still held back (generation is over).</summary>
    public string Finish()
    {
        if (!StopStringFound && _held.Count > 0)
        {
            Append(_tokenizer.Decode(_held));
            _held.Clear();
        }
        return TakeSafe(final: true);
    }

    private void Append(string decoded)
    {
        int searchFrom = Math.Max(0, _text.Length - _longestStop + 1);
        _text.Append(decoded);
        if (_longestStop == 0) return;
        // Only the new text and the few characters before it can hold a stop string that was not there before.
        string tail = _text.ToString(searchFrom, _text.Length - searchFrom);
        int cut = -1;
        foreach (var stop in _stopStrings)
        {
            int at = tail.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            _text.Length = searchFrom + cut;
            StopStringFound = true;
        }
    }

    private string TakeSafe(bool final)
    {
        int end = _text.Length;
        if (!final && !StopStringFound) end -= LongestSuffixThatStartsAStop();
        if (end <= _emitted) return "";
        string piece = _text.ToString(_emitted, end - _emitted);
        _emitted = end;
        return piece;
    }

    private int LongestSuffixThatStartsAStop()
    {
        int best = 0;
        foreach (var stop in _stopStrings)
            for (int n = Math.Min(stop.Length - 1, _text.Length - _emitted); n > best; n--)
                if (EndsWith(stop.AsSpan(0, n))) { best = n; break; }
        return best;
    }

    private bool EndsWith(ReadOnlySpan<char> s)
    {
        int start = _text.Length - s.Length;
        for (int i = 0; i < s.Length; i++)
            if (_text[start + i] != s[i]) return false;
        return true;
    }
}
