using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

public class LoaderTests
{
    static string TinyJson => Path.Combine(TokenizerFixtures.TinyDir, "tokenizer.json");

    /// <summary>Writes the tiny tokenizer.json with one change and returns its path.</summary>
    static string Modified(Action<JsonNode> change)
    {
        var root = JsonNode.Parse(File.ReadAllText(TinyJson))!;
        change(root);
        var path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json");
        File.WriteAllText(path, root.ToJsonString());
        return path;
    }

    [Fact]
    public void Qwen3SpecialTokensAndConfig()
    {
        var tok = TokenizerFixtures.Qwen3;
        Assert.Equal(151669, tok.VocabSize);
        Assert.Equal(26, tok.AddedTokens.Count);
        Assert.Equal("<|im_end|>", tok.EosToken);
        Assert.Equal(151645, tok.EosTokenId);
        Assert.Equal("<|endoftext|>", tok.PadToken);
        Assert.Equal(151643, tok.PadTokenId);
        Assert.Null(tok.BosToken);
        Assert.Null(tok.BosTokenId);
        Assert.Equal(new[] { 151645, 151643 }, tok.EosTokenIds);
        Assert.StartsWith("{%- if tools %}", tok.ChatTemplate);
        Assert.True(tok.IsSpecial(151644));
        Assert.False(tok.IsSpecial(151667)); // <think>
        Assert.False(tok.IsSpecial(151659)); // <|fim_prefix|> is special=false in tokenizer.json
        Assert.False(tok.IsSpecial(100));
        Assert.Equal(151667, tok.TokenToId("<think>"));
        Assert.Equal(220, tok.TokenToId("Ġ"));
        Assert.Null(tok.TokenToId("no such token"));
        Assert.Equal("<|im_start|>", tok.IdToToken(151644));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.IdToToken(151669));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.IdToToken(-1));
    }

    [Fact]
    public void GgufVocabularyCarriesEosAndTemplate()
    {
        var tok = TokenizerFixtures.Qwen3FromGguf;
        Assert.Equal(151669, tok.VocabSize);
        Assert.Equal(151645, tok.EosTokenId);
        Assert.Equal(new[] { 151645 }, tok.EosTokenIds);
        Assert.Equal(151643, tok.PadTokenId);
        Assert.Equal(151643, tok.BosTokenId);
        Assert.Equal(TokenizerFixtures.Qwen3.ChatTemplate, tok.ChatTemplate);
        Assert.True(tok.IsSpecial(151659)); // llama.cpp marks <|fim_prefix|> control
        Assert.False(tok.IsSpecial(151667));
    }

    [Fact]
    public void ChatTemplateListTakesDefaultAndGenerationConfigIntEos()
    {
        var dir = TestPaths.NewTempDir();
        File.Copy(TinyJson, Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            """{"eos_token": {"content": "<|im_end|>", "__type": "AddedToken"}, "pad_token": null, "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}""");
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), """{"eos_token_id": 476}""");
        var tok = QwenTokenizer.FromDirectory(dir);
        Assert.Equal("D", tok.ChatTemplate);
        Assert.Equal("T", tok.ChatTemplates["tool_use"]);
        Assert.Equal("<|im_end|>", tok.EosToken);
        Assert.Equal(478, tok.EosTokenId);
        Assert.Equal(new[] { 476, 478 }, tok.EosTokenIds);
        Assert.Null(tok.PadTokenId);
    }

    [Fact]
    public void ChatTemplateJinjaFileIsUsedWhenConfigHasNone()
    {
        var dir = TestPaths.NewTempDir();
        File.Copy(TinyJson, Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "{{ messages }}");
        Assert.Equal("{{ messages }}", QwenTokenizer.FromDirectory(dir).ChatTemplate);
    }

    public static IEnumerable<object[]> UnsupportedEdits =>
    [
        ["model.type", (Action<JsonNode>)(r => r["model"]!["type"] = "WordPiece")],
        ["normalizer.type", (Action<JsonNode>)(r => r["normalizer"] = JsonNode.Parse("""{"type": "NFKC"}"""))],
        ["pre_tokenizer.pretokenizers[0].pattern.Regex", (Action<JsonNode>)(r => r["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = "\\p{N}{1,3}")],
        ["pre_tokenizer.type", (Action<JsonNode>)(r => r["pre_tokenizer"] = JsonNode.Parse("""{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"""))],
        ["decoder.type", (Action<JsonNode>)(r => r["decoder"] = JsonNode.Parse("""{"type": "WordPiece"}"""))],
        ["model.byte_fallback", (Action<JsonNode>)(r => r["model"]!["byte_fallback"] = true)],
        ["post_processor.type", (Action<JsonNode>)(r => r["post_processor"] = JsonNode.Parse("""{"type": "TemplateProcessing"}"""))],
    ];

    [Theory]
    [MemberData(nameof(UnsupportedEdits))]
    public void UnsupportedContentNamesFileAndField(string field, Action<JsonNode> edit)
    {
        var path = Modified(edit);
        var e = Assert.Throws<NotSupportedException>(() => QwenTokenizer.FromTokenizerJson(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void MalformedFilesAreModelFormatErrors()
    {
        var dir = TestPaths.NewTempDir();
        var truncated = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(truncated, File.ReadAllText(TinyJson)[..5000]);
        var e = Assert.Throws<ModelFormatException>(() => QwenTokenizer.FromTokenizerJson(truncated));
        Assert.Contains(truncated, e.Message);

        var badMerge = Modified(r => r["model"]!["merges"]!.AsArray().Add("Ġ zzz-not-a-token"));
        var e2 = Assert.Throws<ModelFormatException>(() => QwenTokenizer.FromTokenizerJson(badMerge));
        Assert.Contains("zzz-not-a-token", e2.Message);

        Assert.Throws<DirectoryNotFoundException>(() => QwenTokenizer.FromDirectory(dir + "-missing"));
        var empty = TestPaths.NewTempDir();
        Assert.Contains(empty, Assert.Throws<FileNotFoundException>(() => QwenTokenizer.FromDirectory(empty)).Message);
    }

    [Fact]
    public void GgufWithoutQwenPreTokenizerIsNotSupported()
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "t.gguf");
        GgufVocabularyBuilder.FromTokenizerJson(TinyJson).Add("tokenizer.ggml.pre", "llama-bpe").Write(path);
        using var g = new GgufFile(path);
        var e = Assert.Throws<NotSupportedException>(() => QwenTokenizer.FromGguf(g));
        Assert.Contains("'tokenizer.ggml.pre'", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MergesInEitherFormGiveTheSameTokenizer()
    {
        // Qwen3's file lists merges as ["a", "b"] pairs; older files as "a b" strings.
        var legacy = Modified(r =>
        {
            var merges = r["model"]!["merges"]!.AsArray();
            var strings = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create(m is JsonArray p ? $"{p[0]} {p[1]}" : m!.GetValue<string>())!).ToArray());
            r["model"]!["merges"] = strings;
        });
        var a = QwenTokenizer.FromTokenizerJson(TinyJson);
        var b = QwenTokenizer.FromTokenizerJson(legacy);
        foreach (var c in TokenizerFixtures.Cases) Assert.Equal(a.Encode(c.Text), b.Encode(c.Text));
    }

    [Fact]
    public void MergesBeforeVocabularyLoadTheSame()
    {
        var reordered = Modified(r =>
        {
            var model = r["model"]!.AsObject();
            var copy = new JsonObject();
            foreach (var name in new[] { "merges", "type", "vocab" }) copy[name] = model[name]!.DeepClone();
            foreach (var (k, v) in model) if (copy[k] == null && v != null) copy[k] = v.DeepClone();
            r["model"] = copy;
        });
        Assert.StartsWith("{\"merges\"", JsonNode.Parse(File.ReadAllText(reordered))!["model"]!.ToJsonString());
        var a = QwenTokenizer.FromTokenizerJson(TinyJson);
        var b = QwenTokenizer.FromTokenizerJson(reordered);
        foreach (var c in TokenizerFixtures.Cases) Assert.Equal(a.Encode(c.Text), b.Encode(c.Text));
    }

    [Fact]
    public void TinyTokenizerMatchesItsReferenceSequences()
    {
        var tok = QwenTokenizer.FromDirectory(TokenizerFixtures.TinyDir);
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.TinyDir, "sequences.json")))!;
        foreach (var s in doc["sequences"]!.AsArray())
        {
            var ids = s!["tokens"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            Assert.Equal(ids, tok.Encode(s["text"]!.GetValue<string>()));
            Assert.Equal(s["text"]!.GetValue<string>(), tok.Decode(ids));
        }
        Assert.Equal(new[] { 478, 476 }, tok.EosTokenIds);
    }

    /// <summary>Each tiny fixture model's GGUF vocabulary gives the same ids as its tokenizer.json on every case text.</summary>
    [SharedFixtureFact]
    public void FixtureModelGgufVocabulariesMatchTheirTokenizerJson()
    {
        var models = Path.Combine(TestPaths.SharedFixtures!, "models");
        int checkedFiles = 0;
        foreach (var dir in Directory.GetDirectories(models))
        {
            if (!File.Exists(Path.Combine(dir, "tokenizer.json")) || !Directory.Exists(Path.Combine(dir, "gguf"))) continue;
            var json = QwenTokenizer.FromDirectory(dir);
            foreach (var file in Directory.GetFiles(Path.Combine(dir, "gguf"), "*.gguf"))
            {
                using var g = new GgufFile(file);
                var tok = QwenTokenizer.FromGguf(g);
                foreach (var c in TokenizerFixtures.Cases)
                    Assert.True(json.Encode(c.Text).AsSpan().SequenceEqual(tok.Encode(c.Text)), $"{file}: {c.Id}");
                Assert.Equal(json.EosTokenId, tok.EosTokenId);
                checkedFiles++;
            }
        }
        Assert.True(checkedFiles >= 6, $"only {checkedFiles} GGUF files found");
    }

    [SharedFixtureFact]
    public void SharedQwen3TokenizerJsonMatchesTheCommittedCopy()
    {
        var shared = Path.Combine(TestPaths.SharedFixtures!, "tokenizer", "qwen3", "tokenizer.json");
        Assert.Equal(File.ReadAllBytes(shared), File.ReadAllBytes(TokenizerFixtures.Qwen3Json));
    }
}

/// <summary>
/// Added-token flags Qwen does not use (all its tokens have them false) but tokenizer.json allows, with the
/// behaviour of Hugging Face's AddedVocabulary: lstrip/rstrip take the whitespace around, single_word matches
/// only outside words, normalized tokens match the NFC text and decode as their NFC form.
/// </summary>
public class AddedTokenFlagTests
{
    static QwenTokenizer WithToken(string content, bool lstrip = false, bool rstrip = false, bool singleWord = false, bool normalized = false)
    {
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.TinyDir, "tokenizer.json")))!;
        root["added_tokens"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = 600, ["content"] = content, ["single_word"] = singleWord, ["lstrip"] = lstrip, ["rstrip"] = rstrip,
            ["normalized"] = normalized, ["special"] = true,
        });
        var path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json");
        File.WriteAllText(path, root.ToJsonString());
        return QwenTokenizer.FromTokenizerJson(path);
    }

    [Fact]
    public void LStripAndRStripTakeTheSurroundingWhitespace()
    {
        var plain = WithToken("<x>");
        var strip = WithToken("<x>", lstrip: true, rstrip: true);
        Assert.Equal(601, strip.VocabSize);
        var ids = strip.Encode("a  <x>\t b");
        Assert.Equal(plain.Encode("a").Append(600).Concat(plain.Encode("b")), ids);
        Assert.Equal("a<x>b", strip.Decode(ids));
        Assert.Equal(plain.Encode("a ").Append(600).Concat(plain.Encode(" b")), plain.Encode("a <x> b"));
    }

    [Fact]
    public void SingleWordMatchesOnlyOutsideWords()
    {
        var tok = WithToken("ab", singleWord: true);
        var plain = QwenTokenizer.FromTokenizerJson(Path.Combine(TokenizerFixtures.TinyDir, "tokenizer.json"));
        Assert.Equal(new[] { 600 }, tok.Encode("ab"));
        Assert.Equal(plain.Encode("x ").Append(600).Concat(plain.Encode(" y")), tok.Encode("x ab y"));
        Assert.Equal(plain.Encode("xab"), tok.Encode("xab"));
        Assert.Equal(plain.Encode("ab1"), tok.Encode("ab1"));
        Assert.Equal(plain.Encode("ab_"), tok.Encode("ab_"));
    }

    [Fact]
    public void NormalizedTokensMatchTheNfcText()
    {
        var tok = WithToken("e\u0301中", normalized: true);
        Assert.Equal(new[] { 600 }, tok.Encode("\u00E9中"));
        Assert.Equal(new[] { 600 }, tok.Encode("e\u0301中"));
        // Decoded as its NFC form; '中' is outside the byte-level alphabet, so the token's own UTF-8 is used
        // (a token made only of alphabet chars, such as "é!", would decode through the alphabet: byte E9, then U+FFFD).
        Assert.Equal("\u00E9中", tok.Decode([600]));
        Assert.Equal("e\u0301中", tok.IdToToken(600));
    }
}
