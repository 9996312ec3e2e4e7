using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// Qwen's pre-tokenizer: Hugging Face's <c>Split</c> with the regex below and behavior <c>Isolated</c>,
/// written by hand over code points. It finds exactly the matches Oniguruma finds (leftmost alternative
/// first, greedy with backtracking), so text outside the Basic Multilingual Plane is split the way Hugging
/// Face splits it (a UTF-16 regex engine sees surrogates and splits "a𝔘b" in three).
/// Every character is covered by some alternative, so consecutive matches tile the text.
/// </summary>
internal static class QwenPreTokenizer
{
    /// <summary>The <c>pre_tokenizer.pretokenizers[0].pattern.Regex</c> string of Qwen2/2.5/3's tokenizer.json.</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    const byte L = CharClass.Letter, N = CharClass.Number, S = CharClass.Whitespace, CRLF = CharClass.CrLf;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static byte ClassAt(ReadOnlySpan<char> s, int i, out int len)
    {
        char c = s[i];
        if (c < 0x80) { len = 1; return AsciiClass[c]; }
        return CharClass.Of(CharClass.CodePointAt(s, i, out len));
    }

    static readonly byte[] AsciiClass = BuildAscii();
    static byte[] BuildAscii()
    {
        var t = new byte[128];
        for (int c = 0; c < 128; c++) t[c] = CharClass.Of(c);
        return t;
    }

    /// <summary>The end (exclusive, in UTF-16 units) of the pre-token that starts at <paramref name="start"/>.</summary>
    public static int NextEnd(ReadOnlySpan<char> s, int start)
    {
        int n = s.Length;
        char c0 = s[start];

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (c0 == '\'' && start + 1 < n)
        {
            int m = ContractionLength(s, start + 1);
            if (m > 0) return start + 1 + m;
        }

        byte f0 = ClassAt(s, start, out int len0);
        int i = start + len0;

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if ((f0 & L) != 0) return LetterRunEnd(s, i);
        if ((f0 & (CRLF | N)) == 0 && i < n && (ClassAt(s, i, out int len1) & L) != 0)
            return LetterRunEnd(s, i + len1);

        // \p{N}
        if ((f0 & N) != 0) return i;

        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int p = c0 == ' ' ? i : start;
        if (p < n)
        {
            byte fp = ClassAt(s, p, out int lenp);
            if ((fp & (S | L | N)) == 0)
            {
                int j = p + lenp;
                while (j < n)
                {
                    byte fj = ClassAt(s, j, out int lj);
                    if ((fj & (S | L | N)) != 0) break;
                    j += lj;
                }
                while (j < n && s[j] is '\r' or '\n') j++;
                return j;
            }
        }

        // Only whitespace is left: f0 has S. Find the run of whitespace and the last CR/LF in it.
        int end = start, lastCrLf = -1;
        while (end < n)
        {
            byte fe = ClassAt(s, end, out int le);
            if ((fe & S) == 0) break;
            if ((fe & CRLF) != 0) lastCrLf = end;
            end += le;
        }
        // \s*[\r\n]+ : backtracking stops after the last CR/LF of the run.
        if (lastCrLf >= 0) return lastCrLf + 1;
        // \s+(?!\S) : the whole run at the end of the text, else the run less its last char.
        if (end == n) return end;
        int lastStart = end - (char.IsLowSurrogate(s[end - 1]) ? 2 : 1); // whitespace is always BMP, but be exact
        if (lastStart > start) return lastStart;
        // \s+
        return end;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int LetterRunEnd(ReadOnlySpan<char> s, int i)
    {
        while (i < s.Length)
        {
            char c = s[i];
            if (c < 0x80)
            {
                if ((AsciiClass[c] & L) == 0) break;
                i++;
                continue;
            }
            if ((CharClass.Of(CharClass.CodePointAt(s, i, out int len)) & L) == 0) break;
            i += len;
        }
        return i;
    }

    /// <summary>Length of s|t|re|ve|m|ll|d (case-insensitive, with Unicode simple case folding) at <paramref name="i"/>, or 0.</summary>
    static int ContractionLength(ReadOnlySpan<char> s, int i)
    {
        char a = Fold(s[i]);
        switch (a)
        {
            case 's' or 't' or 'm' or 'd': return 1;
            case 'r' or 'v':
                return i + 1 < s.Length && Fold(s[i + 1]) == 'e' ? 2 : 0;
            case 'l':
                return i + 1 < s.Length && Fold(s[i + 1]) == 'l' ? 2 : 0;
            default: return 0;
        }
    }

    /// <summary>Case folding for the letters of the contractions: ASCII upper case, and U+017F LATIN SMALL LETTER LONG S, which folds to 's'.</summary>
    static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c == '\u017F' ? 's' : c;
}
