using System.Globalization;
using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// The character classes Qwen's pre-tokenizer regex uses, per code point, as Oniguruma (the regex
/// engine behind Hugging Face tokenizers) defines them: <c>\p{L}</c> (general category L*),
/// <c>\p{N}</c> (N*), <c>\s</c> (the Unicode White_Space property) and <c>[\r\n]</c>.
/// Categories come from .NET's Unicode tables; the Basic Multilingual Plane is cached in a 64 KiB table.
/// </summary>
internal static class CharClass
{
    public const byte Letter = 1, Number = 2, Whitespace = 4, CrLf = 8, WordExtra = 16, Unicode9 = 32;

    static readonly byte[] Bmp = BuildBmp();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    static byte[] BuildBmp()
    {
        var t = new byte[0x10000];
        for (int c = 0; c < 0x10000; c++)
        {
            if (c >= 0xD800 && c <= 0xDFFF) continue; // surrogates: never looked up alone
            t[c] = Compute(c);
        }
        return t;
    }

    static byte Compute(int cp)
    {
        byte f = 0;
        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter:
                f |= Letter; break;
            case UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber:
                f |= Number; break;
            case UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.ConnectorPunctuation:
                f |= WordExtra; break;
        }
        if (IsWhiteSpaceProperty(cp)) f |= Whitespace;
        if (cp is '\r' or '\n') f |= CrLf;
        if (Unicode9Assigned.Contains(cp)) f |= Unicode9;
        // Other_Alphabetic symbols that count as word characters (\w) for added tokens' single_word flag.
        if (cp is (>= 0x24B6 and <= 0x24E9) or (>= 0x1F130 and <= 0x1F149) or (>= 0x1F150 and <= 0x1F169) or (>= 0x1F170 and <= 0x1F189)
            or 0x200C or 0x200D)
            f |= WordExtra;
        return f;
    }

    /// <summary>The Unicode White_Space property (PropList.txt): what <c>\s</c> matches in Oniguruma and Rust.</summary>
    static bool IsWhiteSpaceProperty(int cp) =>
        cp is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Of(int cp) => cp < 0x10000 ? Bmp[cp] : Compute(cp);

    /// <summary>True when the code point was assigned in Unicode 9.0 or earlier (what Hugging Face's NFC tables know).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsUnicode9(int cp) => (Of(cp) & Unicode9) != 0;

    /// <summary>Rust regex's <c>\w</c>: letters, marks, numbers of category Nd/Nl, connector punctuation, joiners.</summary>
    public static bool IsWord(int cp)
    {
        byte f = Of(cp);
        if ((f & (Letter | WordExtra)) != 0) return true;
        if ((f & Number) != 0)
        {
            var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
            return cat is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber;
        }
        return false;
    }

    /// <summary>The code point at <paramref name="i"/> and its length in UTF-16 units (a lone surrogate stands for itself).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int length)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            length = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        length = 1;
        return c;
    }

    /// <summary>The code point that ends just before <paramref name="end"/>.</summary>
    public static int CodePointBefore(ReadOnlySpan<char> s, int end)
    {
        char c = s[end - 1];
        if (char.IsLowSurrogate(c) && end >= 2 && char.IsHighSurrogate(s[end - 2]))
            return char.ConvertToUtf32(s[end - 2], c);
        return c;
    }
}
