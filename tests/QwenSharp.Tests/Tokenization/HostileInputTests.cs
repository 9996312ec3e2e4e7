using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>
/// Inputs built to be slow: they must finish in time and memory linear in their size. The memory bound is
/// checked with the bytes this thread allocates (a quadratic algorithm or a runaway buffer would exceed it);
/// time is not asserted, a quadratic merge loop would simply not finish.
/// </summary>
public class HostileInputTests
{
    static QwenTokenizer Tok => TokenizerFixtures.Qwen3;

    static int[] EncodeWithinBudget(string text, long bytesPerChar)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ids = Tok.Encode(text);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1_000_000 + bytesPerChar * text.Length, $"allocated {allocated:N0} bytes for {text.Length:N0} chars");
        return ids;
    }

    [Fact]
    public void OneMegabyteWord()
    {
        var rng = new Random(1);
        var chars = new char[1 << 20];
        for (int i = 0; i < chars.Length; i++) chars[i] = (char)('a' + rng.Next(26));
        string word = new(chars);
        var ids = EncodeWithinBudget(word, 120);
        Assert.Equal(word, Tok.Decode(ids));
    }

    [Fact]
    public void TenMegabytesOfSpaces()
    {
        string spaces = new(' ', 10_000_000);
        var ids = EncodeWithinBudget(spaces, 120);
        Assert.Equal(spaces.Length, Tok.Decode(ids).Length);
        Assert.True(Tok.Decode(ids).All(c => c == ' '));
    }

    [Fact]
    public void HundredThousandSpecialTokenLookAlikes()
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < 100_000; i++) sb.Append(i % 3 == 0 ? "<|im_start|" : i % 3 == 1 ? "<|im_end" : "<think");
        sb.Append("<|im_end|>");
        string text = sb.ToString();
        var ids = EncodeWithinBudget(text, 120);
        Assert.Equal(151645, ids[^1]);
        Assert.Equal(1, ids.Count(Tok.IsSpecial));
        Assert.Equal(text, Tok.Decode(ids));
    }

    [Fact]
    public void LongRunsOfNewlinesAndPunctuation()
    {
        foreach (var unit in new[] { "\n", "\r\n", "!", " \n", "😀", "中" })
        {
            string text = string.Concat(Enumerable.Repeat(unit, 200_000));
            var ids = EncodeWithinBudget(text, 120);
            Assert.Equal(text, Tok.Decode(ids));
        }
    }
}
