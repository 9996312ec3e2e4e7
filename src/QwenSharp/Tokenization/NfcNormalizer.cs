using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>
/// Hugging Face's <c>NFC</c> normalizer over .NET's Unicode normalization (ICU on Linux and macOS).
/// Text with no char at or above U+0300 is already NFC and is returned as it is without a lookup.
/// .NET refuses U+FFFE (a noncharacter that Hugging Face passes through): it cannot compose or reorder
/// with its neighbours, so the text on each side of it is normalized on its own, which is exact.
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

    /// <summary>The NFC form of <paramref name="text"/>: the input itself when it is already NFC, else a new string.</summary>
    public static ReadOnlySpan<char> Normalize(ReadOnlySpan<char> text)
    {
        if (text.IndexOfAnyInRange('\u0300', '\uFFFF') < 0) return text;
        int nonchar = text.IndexOf('\uFFFE');
        if (nonchar >= 0) return NormalizeAround(text, nonchar);
        if (text.IsNormalized(NormalizationForm.FormC)) return text;
        return text.ToString().Normalize(NormalizationForm.FormC);
    }

    static string NormalizeAround(ReadOnlySpan<char> text, int first)
    {
        var sb = new StringBuilder(text.Length);
        int start = 0, at = first;
        while (true)
        {
            sb.Append(Normalize(text[start..at]));
            if (at == text.Length) break;
            sb.Append('\uFFFE');
            start = at + 1;
            int next = text[start..].IndexOf('\uFFFE');
            at = next < 0 ? text.Length : start + next;
        }
        return sb.ToString();
    }
}
