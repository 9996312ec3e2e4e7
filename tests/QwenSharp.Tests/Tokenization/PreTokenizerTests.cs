using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>
/// The Qwen pre-tokenizer against behaviour the reference implementations confirm (the shared fixtures'
/// README, "Behaviour worth knowing") and against what the regex means, case by case.
/// </summary>
public class PreTokenizerTests
{
    static string[] Split(string s)
    {
        var list = new List<string>();
        for (int i = 0; i < s.Length;)
        {
            int end = QwenPreTokenizer.NextEnd(s, i);
            Assert.True(end > i);
            list.Add(s[i..end]);
            i = end;
        }
        return list.ToArray();
    }

    [Theory]
    [InlineData("a𝔘b", new[] { "a𝔘b" })]                 // astral letters are \p{L}: one piece (a UTF-16 regex gives three)
    [InlineData("x𠀀y", new[] { "x𠀀y" })]
    [InlineData("12𝟘", new[] { "1", "2", "𝟘" })]          // \p{N} matches one character
    [InlineData("²½Ⅻ１", new[] { "²", "½", "Ⅻ", "１" })]
    [InlineData("it'RE", new[] { "it", "'RE" })]          // (?i:...) contractions
    [InlineData("we'Ll go", new[] { "we", "'Ll", " go" })]
    [InlineData("don't", new[] { "don", "'t" })]
    [InlineData("'sa", new[] { "'s", "a" })]              // leftmost alternative wins, not the longest
    [InlineData("a\u00A0b", new[] { "a", "\u00A0b" })]    // U+00A0 is \s but not [\r\n]: it prefixes the letters
    [InlineData("a\u3000\u3000b", new[] { "a", "\u3000", "\u3000b" })]
    [InlineData("a\uFEFFb", new[] { "a", "\uFEFFb" })]    // U+FEFF is not \s: [^\r\n\p{L}\p{N}]? takes it
    [InlineData("a\u0085\u2028", new[] { "a", "\u0085\u2028" })]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("  hi", new[] { " ", " hi" })]            // \s+(?!\S) leaves the last space to the word
    [InlineData("a  ", new[] { "a", "  " })]              // trailing spaces: one piece
    [InlineData("x \n\n y", new[] { "x", " \n\n", " y" })] // \s*[\r\n]+ ends after the last newline
    [InlineData("a 4", new[] { "a", " ", "4" })]
    [InlineData("!!!\n\nx", new[] { "!!!\n\n", "x" })]    // punctuation takes the newlines after it
    [InlineData(" {}", new[] { " {}" })]
    [InlineData("\n\nabc", new[] { "\n\n", "abc" })]
    [InlineData("\tabc", new[] { "\tabc" })]
    [InlineData("é", new[] { "é" })]
    [InlineData("e\u0301x", new[] { "e", "\u0301x" })]   // a mark is neither letter nor number
    public void SplitsLikeHuggingFace(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Fact]
    public void PiecesTileAnyText()
    {
        var rng = new Random(7);
        for (int n = 0; n < 2000; n++)
        {
            var s = RandomText.Next(rng, 40);
            Assert.Equal(s, string.Concat(Split(s)));
        }
    }
}
