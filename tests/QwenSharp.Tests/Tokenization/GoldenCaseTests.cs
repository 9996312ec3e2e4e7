using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>
/// The 412 golden cases (ids, token strings, decodes from Hugging Face tokenizers; three implementations
/// agree on all of them) and the 54 Qwen2.5 cases, from tokenizer.json and from a GGUF vocabulary.
/// </summary>
public class GoldenCaseTests
{
    public static IEnumerable<object[]> CaseIds => TokenizerFixtures.Cases.Select(c => new object[] { c.Id });
    public static IEnumerable<object[]> Qwen25CaseIds => TokenizerFixtures.Qwen25Cases.Select(c => new object[] { c.Id });

    static GoldenCase Case(string id) => TokenizerFixtures.Cases.Single(c => c.Id == id);

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void EncodeGivesHuggingFaceIds(string id)
    {
        var c = Case(id);
        var tok = TokenizerFixtures.Qwen3;
        Assert.Equal(c.Ids, tok.Encode(c.Text));
        Assert.Equal(c.Tokens, c.Ids.Select(tok.IdToToken).ToArray());
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void DecodeGivesHuggingFaceText(string id)
    {
        var c = Case(id);
        var tok = TokenizerFixtures.Qwen3;
        Assert.Equal(c.Decoded, tok.Decode(c.Ids));
        Assert.Equal(c.DecodedSkipSpecial, tok.Decode(c.Ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void IncrementalDecodeEqualsFullDecode(string id)
    {
        var c = Case(id);
        foreach (bool skip in new[] { false, true })
        {
            var dec = TokenizerFixtures.Qwen3.CreateIncrementalDecoder(skip);
            var sb = new System.Text.StringBuilder();
            foreach (int t in c.Ids)
            {
                string piece = dec.Append(t);
                // Never a broken character: no U+FFFD unless the text itself has one.
                if (!c.Decoded.Contains('\uFFFD')) Assert.DoesNotContain('\uFFFD', piece);
                sb.Append(piece);
            }
            sb.Append(dec.Flush());
            Assert.Equal(skip ? c.DecodedSkipSpecial : c.Decoded, sb.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(Qwen25CaseIds))]
    public void Qwen25AddedTokenSetGivesHuggingFaceIds(string id)
    {
        var c = TokenizerFixtures.Qwen25Cases.Single(x => x.Id == id);
        var tok = TokenizerFixtures.Qwen25;
        Assert.Equal(c.Ids, tok.Encode(c.Text));
        Assert.Equal(c.Decoded, tok.Decode(c.Ids));
        Assert.Equal(c.DecodedSkipSpecial, tok.Decode(c.Ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Qwen25CasesExactFromGguf()
    {
        var gguf = TokenizerFixtures.Qwen25FromGguf;
        Assert.Equal(151665, gguf.VocabSize);
        var misses = TokenizerFixtures.Qwen25Cases.Where(c => !c.Ids.SequenceEqual(gguf.Encode(c.Text))).Select(c => c.Id).ToList();
        Assert.True(misses.Count == 0, "misses: " + string.Join(", ", misses));
        foreach (var c in TokenizerFixtures.Qwen25Cases) Assert.Equal(c.Decoded, gguf.Decode(c.Ids));
    }

    [Fact]
    public void AllCasesExactFromTokenizerJsonAndFromGguf()
    {
        var json = TokenizerFixtures.Qwen3;
        var gguf = TokenizerFixtures.Qwen3FromGguf;
        var cases = TokenizerFixtures.Cases;
        Assert.Equal(412, cases.Count);
        var jsonMisses = cases.Where(c => !c.Ids.SequenceEqual(json.Encode(c.Text))).Select(c => c.Id).ToList();
        var ggufMisses = cases.Where(c => !c.Ids.SequenceEqual(gguf.Encode(c.Text))).Select(c => c.Id).ToList();
        Assert.True(jsonMisses.Count == 0, "tokenizer.json misses: " + string.Join(", ", jsonMisses));
        Assert.True(ggufMisses.Count == 0, "GGUF misses: " + string.Join(", ", ggufMisses));
    }

    [Fact]
    public void GgufVocabularyDecodesLikeTokenizerJson()
    {
        var json = TokenizerFixtures.Qwen3;
        var gguf = TokenizerFixtures.Qwen3FromGguf;
        foreach (var c in TokenizerFixtures.Cases)
        {
            Assert.Equal(c.Decoded, gguf.Decode(c.Ids));
            // The GGUF marks <|fim_*|>, <|repo_name|>, <|file_sep|> as control (special) too, as llama.cpp's converter does.
            bool differs = c.Ids.Any(id => gguf.IsSpecial(id) != json.IsSpecial(id));
            if (!differs) Assert.Equal(c.DecodedSkipSpecial, gguf.Decode(c.Ids, skipSpecialTokens: true));
        }
    }
}
