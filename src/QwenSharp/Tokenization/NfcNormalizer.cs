using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>
/// Hugging Face's <c>NFC</c> normalizer. Hugging Face normalizes with Unicode 9.0 tables
/// (unicode-normalization-alignments 0.1.12); .NET normalizes with ICU's newer tables. By Unicode's
/// normalization stability policy the two agree on text made of characters assigned by 9.0, and a
/// character assigned later is, for Hugging Face, an unassigned code point: a starter that never composes
/// or reorders, so text on each side of it is normalized on its own. This class does exactly that: it
/// normalizes with .NET each run of characters known to Unicode 9.0 and copies every later character (and
/// U+FFFE, which .NET refuses) unchanged. Text with no char at or above U+0300 is already NFC and is
/// returned as it is.
/// </summary>
internal static class NfcNormalizer
{
    /// <summary>
    /// False when the process runs in globalization-invariant mode, where .NET's Normalize returns the
    /// text unchanged: the tokenizer then refuses to load rather than give wrong ids for non-NFC text.
    /// </summary>
    public static bool IsAvailable { get; } = Probe();

    static bool Probe()
    {
        try { return "e\u0301".Normalize(NormalizationForm.FormC) == "\u00E9"; }
        catch (PlatformNotSupportedException) { return false; }
    }

    /// <summary>The NFC form of <paramref name="text"/> (no lone surrogates): the input itself when it is already NFC, else a new string.</summary>
    public static ReadOnlySpan<char> Normalize(ReadOnlySpan<char> text)
    {
        int first = text.IndexOfAnyInRange('\u0300', '\uFFFF');
        if (first < 0) return text;
        int inert = NextInert(text, first);
        if (inert < 0) return NormalizeKnown(text);

        var sb = new StringBuilder(text.Length);
        int start = 0;
        while (inert >= 0)
        {
            sb.Append(NormalizeKnown(text[start..inert]));
            int len = char.IsHighSurrogate(text[inert]) ? 2 : 1;
            sb.Append(text.Slice(inert, len));
            start = inert + len;
            inert = NextInert(text, start);
        }
        sb.Append(NormalizeKnown(text[start..]));
        return sb.ToString();
    }

    /// <summary>Normalizes text whose every character was assigned by Unicode 9.0.</summary>
    static ReadOnlySpan<char> NormalizeKnown(ReadOnlySpan<char> text)
    {
        if (text.IndexOfAnyInRange('\u0300', '\uFFFF') < 0 || text.IsNormalized(NormalizationForm.FormC)) return text;
        return text.ToString().Normalize(NormalizationForm.FormC);
    }

    /// <summary>Index of the next character at or after <paramref name="from"/> that Unicode 9.0 did not assign (or U+FFFE), or -1.</summary>
    static int NextInert(ReadOnlySpan<char> text, int from)
    {
        for (int i = from; i < text.Length;)
        {
            char c = text[i];
            if (c < 0x300) { i++; continue; }
            int cp = CharClass.CodePointAt(text, i, out int len);
            if (!CharClass.IsUnicode9(cp) || cp == 0xFFFE) return i;
            i += len;
        }
        return -1;
    }
}
