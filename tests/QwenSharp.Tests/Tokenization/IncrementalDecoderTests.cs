using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

public class IncrementalDecoderTests
{
    static QwenTokenizer Tok => TokenizerFixtures.Qwen3;
    static int ByteToken(byte b) => Tok.TokenToId(ByteLevel.ByteToChar[b].ToString())!.Value;

    [Fact]
    public void HoldsBackAnUnfinishedCharacter()
    {
        var dec = Tok.CreateIncrementalDecoder();
        // 😀 = F0 9F 98 80, fed one byte token at a time.
        Assert.Equal("a", dec.Append(ByteToken((byte)'a')));
        Assert.Equal("", dec.Append(ByteToken(0xF0)));
        Assert.Equal("", dec.Append(ByteToken(0x9F)));
        Assert.Equal("", dec.Append(ByteToken(0x98)));
        Assert.Equal("😀", dec.Append(ByteToken(0x80)));
        Assert.Equal("", dec.Flush());
    }

    [Fact]
    public void InvalidBytesComeOutAsReplacementCharacters()
    {
        var dec = Tok.CreateIncrementalDecoder();
        Assert.Equal("", dec.Append(ByteToken(0xE4)));          // lead of a 3-byte sequence
        Assert.Equal("\uFFFDx", dec.Append(ByteToken((byte)'x'))); // ...cut short by 'x'
        Assert.Equal("\uFFFD", dec.Append(ByteToken(0x80)));     // lone continuation byte
        Assert.Equal("", dec.Append(ByteToken(0xE0)));
        Assert.Equal("\uFFFD\uFFFD", dec.Append(ByteToken(0x80))); // E0 80 can never be valid: emitted at once
        Assert.Equal("", dec.Append(ByteToken(0xC3)));
        Assert.Equal("\uFFFD", dec.Flush());                     // unfinished at the end
        Assert.Equal("", dec.Flush());
    }

    [Fact]
    public void SkipsSpecialTokensWhenAsked()
    {
        var ids = Tok.Encode("<|im_start|>user\nhi<|im_end|><think>");
        var dec = Tok.CreateIncrementalDecoder(skipSpecialTokens: true);
        var text = string.Concat(ids.Select(dec.Append)) + dec.Flush();
        Assert.Equal("user\nhi<think>", text);
    }

    [Theory]
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98 }, 3)]
    [InlineData(new byte[] { 0x61, 0xE2, 0x82 }, 2)]
    [InlineData(new byte[] { 0x61, 0xC3 }, 1)]
    [InlineData(new byte[] { 0xE0, 0x80 }, 0)]   // invalid second byte
    [InlineData(new byte[] { 0xED, 0xA0 }, 0)]   // surrogate range
    [InlineData(new byte[] { 0xF4, 0x90 }, 0)]   // above U+10FFFF
    [InlineData(new byte[] { 0xC3, 0xA9 }, 0)]   // complete
    [InlineData(new byte[] { 0x80, 0x80, 0x80 }, 0)]
    [InlineData(new byte[] { 0xF5 }, 0)]
    public void IncompleteTail(byte[] bytes, int expected) => Assert.Equal(expected, IncrementalDecoder.IncompleteTailLength(bytes));
}
