using System.Text;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Random Unicode text for property tests: every plane, combining marks, whitespace of all kinds,
/// lone surrogates, apostrophes and pieces of special tokens.</summary>
public static class RandomText
{
    static readonly string[] Atoms =
    [
        "'", "'s", "'LL", "'ve", " ", "  ", "\t", "\n", "\r\n", "\u00A0", "\u0085", "\u2028", "\u3000", "\uFEFF",
        "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<|endoftext|", "<|", "|>", "<tool_call>",
        "a", "Z", "é", "e\u0301", "\u0338", "\u0301\u0323", "ß", "İ", "ﬁ", "中文", "の", "한국", "ا", "ह", "1", "²", "½", "１", "𝟘", "𝔘",
        "𠀀", "😀", "👍🏽", "\u200D", "!", "...", "\"", "#", "\uFFFD", "\uFFFE", "\uFFFF", "\uD800", "\uDC00",
    ];

    public static string Next(Random rng, int maxAtoms)
    {
        var sb = new StringBuilder();
        int n = rng.Next(0, maxAtoms + 1);
        for (int i = 0; i < n; i++)
        {
            switch (rng.Next(10))
            {
                case < 5: sb.Append(Atoms[rng.Next(Atoms.Length)]); break;
                case < 7: sb.Append((char)rng.Next(0x20, 0x7F)); break;
                case < 9:
                    int bmp = rng.Next(0x80, 0x10000);
                    sb.Append((char)bmp); // may be a lone surrogate: on purpose
                    break;
                default: sb.Append(char.ConvertFromUtf32(rng.Next(0x10000, 0x110000) is var cp && cp is >= 0xD800 and <= 0xDFFF ? 0x10000 : cp)); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>The string with every lone surrogate replaced by U+FFFD (what its UTF-8 form holds).</summary>
    public static string Sanitize(string s) => Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(s));
}
