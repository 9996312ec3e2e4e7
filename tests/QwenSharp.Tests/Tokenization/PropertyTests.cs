using System.Text;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

public class PropertyTests
{
    static QwenTokenizer Tok => TokenizerFixtures.Qwen3;

    /// <summary>
    /// decode(encode(s)) == NFC(s) for text without added tokens (Hugging Face normalizes each stretch between
    /// added tokens on its own, so only there is the whole-string NFC the reference). NFC(s) is taken with
    /// .NET's normalizer, which agrees with Hugging Face's on characters assigned by Unicode 9.0; the random text
    /// also holds later characters, so the comparison is made on text of Unicode 9.0 characters and separately
    /// checks that the round trip never loses or changes a later character.
    /// </summary>
    [Fact]
    public void DecodeOfEncodeIsNfcOfTheText()
    {
        var rng = new Random(12345);
        int compared = 0;
        for (int n = 0; n < 3000; n++)
        {
            string s = RandomText.Sanitize(RandomText.Next(rng, 30));
            if (Tok.AddedTokens.Any(t => s.Contains(t.Content))) continue;
            string roundTrip = Tok.Decode(Tok.Encode(s));
            bool allUnicode9 = s.EnumerateRunes().All(r => CharClass.IsUnicode9(r.Value) && r.Value != 0xFFFE);
            if (allUnicode9)
            {
                Assert.Equal(s.Normalize(NormalizationForm.FormC), roundTrip);
                compared++;
            }
            else
            {
                // Later characters are inert for Hugging Face's Unicode 9.0 NFC: the round trip is the normalizer's output.
                Assert.Equal(NfcNormalizer.Normalize(s).ToString(), roundTrip);
                Assert.Equal(Tok.Encode(s), Tok.Encode(roundTrip)); // NFC is idempotent, so encoding is stable
            }
        }
        Assert.True(compared > 500, $"only {compared} strings compared");
    }

    static string Escape(string s) => string.Concat(s.EnumerateRunes().Select(r => r.Value is >= 0x20 and < 0x7F ? ((char)r.Value).ToString() : $"\\u{{{r.Value:X}}}"));

    [Fact]
    public void TextThatIsAlreadyNfcRoundTripsExactly()
    {
        var rng = new Random(99);
        for (int n = 0; n < 2000; n++)
        {
            string s = RandomText.Sanitize(RandomText.Next(rng, 30));
            if (!s.EnumerateRunes().All(r => CharClass.IsUnicode9(r.Value) && r.Value != 0xFFFE)) continue;
            s = s.Normalize(NormalizationForm.FormC);
            Assert.Equal(s, Tok.Decode(Tok.Encode(s))); // added tokens included: they decode to their text
            Assert.Equal(s, Tok.Decode(Tok.Encode(s, parseSpecialTokens: false)));
        }
    }

    /// <summary>
    /// Hugging Face normalizes with Unicode 9.0 tables (the differential fuzz in the bench found this): a combining
    /// mark assigned later (U+09FE, Unicode 10; U+1DFA, Unicode 14) is not reordered, one known to 9.0 is.
    /// </summary>
    [Theory]
    [InlineData("a\u0301\u0338", "\u00E1\u0338")]     // ccc 230 then 1: reordered, then a + U+0301 compose
    [InlineData("a\u09FE\u0338", "a\u09FE\u0338")]    // U+09FE is unassigned in 9.0: stays first
    [InlineData("\u0747\u1DFA", "\u0747\u1DFA")]
    [InlineData("e\u0301", "\u00E9")]
    [InlineData("\uFB38", "\u05D8\u05BC")]              // composition exclusion: NFC decomposes it
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]         // Hangul jamo compose
    [InlineData("x\uFFFEe\u0301", "x\uFFFE\u00E9")]      // U+FFFE passes through (.NET alone would throw)
    public void NormalizesWithUnicode9Tables(string text, string expected) => Assert.Equal(expected, Tok.Decode(Tok.Encode(text)));

    [Fact]
    public void LoneSurrogatesEncodeAsReplacementCharacter()
    {
        Assert.Equal(Tok.Encode("a\uFFFDb"), Tok.Encode("a\uD800b"));
        Assert.Equal(Tok.Encode("\uFFFD"), Tok.Encode("\uDC00"));
        Assert.Equal("x\uFFFD😀", Tok.Decode(Tok.Encode("x\uDBFF😀")));
    }

    [Fact]
    public void PlainEncodingNeverProducesSpecialTokens()
    {
        var rng = new Random(5);
        for (int n = 0; n < 2000; n++)
        {
            string s = RandomText.Next(rng, 30);
            var ids = Tok.Encode(s, parseSpecialTokens: false);
            Assert.DoesNotContain(ids, Tok.IsSpecial);
        }
        // Non-special added tokens are still recognized (Hugging Face's split_special_tokens behaves the same).
        Assert.Equal(new[] { 151667 }, Tok.Encode("<think>", parseSpecialTokens: false));
    }

    [Fact]
    public void ListOverloadAppendsTheSameIds()
    {
        var rng = new Random(11);
        var list = new List<int> { -7 };
        var expected = new List<int> { -7 };
        for (int n = 0; n < 500; n++)
        {
            string s = RandomText.Next(rng, 20);
            Tok.Encode(s.AsSpan(), list);
            expected.AddRange(Tok.Encode(s));
        }
        Assert.Equal(expected, list);
    }

    /// <summary>Incremental decoding of random ids (which often cut UTF-8 sequences or are invalid UTF-8) equals the full decode.</summary>
    [Fact]
    public void IncrementalDecodeOfRandomIdsEqualsFullDecode()
    {
        var rng = new Random(3);
        for (int n = 0; n < 3000; n++)
        {
            var ids = new int[rng.Next(0, 40)];
            for (int i = 0; i < ids.Length; i++)
                ids[i] = rng.Next(4) == 0 ? rng.Next(0, 256) : rng.Next(-5, Tok.VocabSize + 300); // byte tokens, out-of-range ids too
            foreach (bool skip in new[] { false, true })
            {
                var dec = Tok.CreateIncrementalDecoder(skip);
                var sb = new StringBuilder();
                foreach (int id in ids)
                {
                    string piece = dec.Append(id);
                    Assert.False(piece.Length > 0 && char.IsHighSurrogate(piece[^1]), "emitted half a surrogate pair");
                    sb.Append(piece);
                }
                sb.Append(dec.Flush());
                Assert.Equal(Tok.Decode(ids, skip), sb.ToString());
            }
        }
    }

    /// <summary>The three merge loops (scanning for short words; rank sweep, or heap when the merges are not
    /// layered, for long ones) give the same ids, on random text and on long repetitive words.</summary>
    [Fact]
    public void AllMergeLoopsAgree()
    {
        var model = Tok.Model;
        Assert.True(model.MergesAreLayered);
        var rng = new Random(8);
        var scratch = new EncoderScratch();
        string[] units = [" ", "a", "ab", "\n", "aaab", "中", "😀", "..", "é"];
        for (int n = 0; n < 3000; n++)
        {
            string s = n % 3 == 0
                ? string.Concat(Enumerable.Repeat(units[rng.Next(units.Length)], rng.Next(1, 200)))
                : RandomText.Sanitize(RandomText.Next(rng, 12));
            var bytes = Encoding.UTF8.GetBytes(s);
            var ids = bytes.Select(b => Tok.TokenToId(ByteLevel.ByteToChar[b].ToString())!.Value).ToArray();
            var a = new List<int>();
            var b2 = new List<int>();
            var c = new List<int>();
            model.MergeByScanning((int[])ids.Clone(), ids.Length, a, scratch);
            model.MergeWithHeap((int[])ids.Clone(), ids.Length, b2);
            model.MergeByRankSweep((int[])ids.Clone(), ids.Length, c);
            Assert.Equal(a, b2);
            Assert.Equal(a, c);
        }
    }

    [Fact]
    public void ConcurrentEncodingGivesTheSameIds()
    {
        var cases = TokenizerFixtures.Cases;
        var tok = QwenTokenizer.FromTokenizerJson(TokenizerFixtures.Qwen3Json); // fresh caches, filled concurrently
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, w =>
        {
            for (int i = w; i < cases.Count; i += 2)
                Assert.Equal(cases[i].Ids, tok.Encode(cases[i].Text));
        });
    }
}
