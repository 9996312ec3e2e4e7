using System.Buffers;

namespace QwenSharp.Tokenization;

/// <summary>
/// Finds added tokens in text the way Hugging Face's <c>AddedVocabulary</c> does: leftmost-longest,
/// non-overlapping matches (an Aho-Corasick automaton there, <see cref="SearchValues{T}"/> here), then
/// the single_word / lstrip / rstrip rules. One instance holds one set: the tokens matched on raw text
/// (normalized=false) or those matched on normalized text (normalized=true).
/// </summary>
internal sealed class AddedVocabulary
{
    readonly SearchValues<string>? _search;
    /// <summary>Tokens by first char, longest first.</summary>
    readonly Dictionary<char, (string Pattern, AddedToken Token)[]> _byFirstChar = [];

    public bool IsEmpty => _search == null;

    /// <param name="tokens">The tokens with the patterns to look for (the content, or its normalized form).</param>
    public AddedVocabulary(IEnumerable<(string Pattern, AddedToken Token)> tokens)
    {
        // Hugging Face keys its maps by content: of two tokens with the same text, the last wins.
        var byPattern = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var (pattern, token) in tokens)
            if (pattern.Length > 0) byPattern[pattern] = token;
        if (byPattern.Count == 0) return;
        _search = SearchValues.Create(byPattern.Keys.ToArray(), StringComparison.Ordinal);
        foreach (var g in byPattern.GroupBy(kv => kv.Key[0]))
            _byFirstChar[g.Key] = g.OrderByDescending(kv => kv.Key.Length).Select(kv => (kv.Key, kv.Value)).ToArray();
    }

    /// <summary>
    /// Splits <paramref name="text"/> into stretches of text and added tokens, appended in order to
    /// <paramref name="output"/> (Hugging Face's <c>find_matches</c>). Text stretches are never empty.
    /// </summary>
    /// <param name="text">The text to search.</param>
    /// <param name="output">Receives the segments.</param>
    /// <param name="skipSpecial">Matches of special tokens are dropped (left as text), as with Hugging Face's
    /// <c>encode_special_tokens</c>: the match is still consumed, so no other token is found inside it.</param>
    public void FindMatches(ReadOnlySpan<char> text, bool skipSpecial, List<Segment> output)
    {
        if (_search == null)
        {
            if (!text.IsEmpty) output.Add(new Segment(0, text.Length, null));
            return;
        }
        int searchFrom = 0, startOffset = 0;
        while (searchFrom < text.Length)
        {
            int rel = text[searchFrom..].IndexOfAny(_search);
            if (rel < 0) break;
            int start = searchFrom + rel;
            var (pattern, token) = Longest(text, start);
            int stop = start + pattern.Length;
            searchFrom = stop;

            if (skipSpecial && token.Special) continue;
            if (token.SingleWord)
            {
                bool startSpace = start == 0 || !CharClass.IsWord(CharClass.CodePointBefore(text, start));
                bool stopSpace = stop == text.Length || !CharClass.IsWord(CharClass.CodePointAt(text, stop, out _));
                if (!startSpace || !stopSpace) continue;
            }
            if (token.LStrip)
            {
                int s = start;
                while (s > 0 && (CharClass.Of(CharClass.CodePointBefore(text, s)) & CharClass.Whitespace) != 0)
                    s -= char.IsLowSurrogate(text[s - 1]) && s >= 2 && char.IsHighSurrogate(text[s - 2]) ? 2 : 1;
                start = Math.Max(s, startOffset);
            }
            if (token.RStrip)
            {
                while (stop < text.Length)
                {
                    int cp = CharClass.CodePointAt(text, stop, out int len);
                    if ((CharClass.Of(cp) & CharClass.Whitespace) == 0) break;
                    stop += len;
                }
            }
            if (startOffset < start) output.Add(new Segment(startOffset, start, null));
            output.Add(new Segment(start, stop, token));
            startOffset = stop;
        }
        if (startOffset < text.Length) output.Add(new Segment(startOffset, text.Length, null));
    }

    (string Pattern, AddedToken Token) Longest(ReadOnlySpan<char> text, int start)
    {
        foreach (var entry in _byFirstChar[text[start]])
            if (text[start..].StartsWith(entry.Pattern, StringComparison.Ordinal)) return entry;
        throw new InvalidOperationException("SearchValues reported a match that no added token has");
    }

}

/// <summary>A stretch [Start, End) of text, or an added token matched there.</summary>
internal readonly record struct Segment(int Start, int End, AddedToken? Token);
