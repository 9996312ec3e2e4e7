using QwenSharp.Cli;

namespace QwenSharp.Tests.Tokenization;

public class TokenizeCommandTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    static GoldenCase Case(string id) => TokenizerFixtures.Cases.Single(c => c.Id == id);

    [Fact]
    public void TextPrintsTheIdsFromAModelFolder()
    {
        var c = Case("special_tokens-000");
        var (code, output, err) = Run("tokenize", "--model", TokenizerFixtures.Qwen3Dir, "--text", c.Text);
        Assert.True(code == 0, err);
        Assert.Equal("[" + string.Join(", ", c.Ids) + "]", output.Trim());
    }

    [Fact]
    public void JsonlPrintsOneLinePerInputInOrder()
    {
        var cases = TokenizerFixtures.Cases.Where(c => c.Category is "special_tokens" or "chinese" or "emoji").Take(40).ToList();
        var file = Path.Combine(TestPaths.NewTempDir(), "in.jsonl");
        File.WriteAllLines(file, cases.Select(c => System.Text.Json.JsonSerializer.Serialize(new { text = c.Text })));
        var (code, output, err) = Run("tokenize", "--model", TokenizerFixtures.Qwen3Dir, "--jsonl", file);
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cases.Count, lines.Length);
        for (int i = 0; i < cases.Count; i++)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(lines[i]);
            Assert.Equal(cases[i].Ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()));
        }
    }

    [Fact]
    public void PlainTreatsSpecialTokensAsText()
    {
        // Qwen2.5 has no <think> token, so its reference ids for "<think>" are the plain-text ids; "<|im_start|>"
        // typed as plain text must not become 151644.
        var (code, output, _) = Run("tokenize", "--model", TokenizerFixtures.Qwen3Dir, "--text", "<|im_start|>user", "--plain");
        Assert.Equal(0, code);
        var ids = output.Trim().Trim('[', ']').Split(", ").Select(int.Parse).ToArray();
        Assert.DoesNotContain(151644, ids);
        Assert.All(ids, id => Assert.True(id < 151643));
        Assert.Equal("<|im_start|>user", TokenizerFixtures.Qwen3.Decode(ids));
    }

    [Fact]
    public void GgufPathUsesTheGgufVocabulary()
    {
        var c = Case("mixed-000");
        var (code, output, err) = Run("tokenize", "--model", TokenizerFixtures.Qwen3GgufPath, "--text", c.Text);
        Assert.True(code == 0, err);
        Assert.Equal("[" + string.Join(", ", c.Ids) + "]", output.Trim());
    }

    [Fact]
    public void FolderWithOnlyTokenizerFilesWorks()
    {
        var dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(TokenizerFixtures.TinyDir, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        var (code, output, err) = Run("tokenize", "--model", dir, "--text", "Hello, world!");
        Assert.True(code == 0, err);
        // qwen3-tiny's reference/sequences.json: "Hello, world!" with the model's tokenizer.json (Hugging Face).
        Assert.Equal("[39, 68, 75, 297, 11, 271, 279, 75, 67, 0]", output.Trim());
    }

    [Theory]
    [InlineData("missing-model")]
    [InlineData("both")]
    [InlineData("neither")]
    [InlineData("bad-json-line")]
    [InlineData("no-text-field")]
    public void BadInputIsAnErrorNamingTheProblem(string what)
    {
        var dir = TestPaths.NewTempDir();
        var file = Path.Combine(dir, "in.jsonl");
        string model = TokenizerFixtures.TinyDir;
        string[] args = what switch
        {
            "missing-model" => ["tokenize", "--model", Path.Combine(dir, "nope"), "--text", "x"],
            "both" => ["tokenize", "--model", model, "--text", "x", "--jsonl", file],
            "neither" => ["tokenize", "--model", model],
            "bad-json-line" => ["tokenize", "--model", model, "--jsonl", file],
            _ => ["tokenize", "--model", model, "--jsonl", file],
        };
        File.WriteAllText(file, what == "bad-json-line" ? "{\"text\": \"ok\"}\nnot json\n" : "{\"content\": \"x\"}\n");
        var (code, _, err) = Run(args);
        Assert.NotEqual(0, code);
        string expected = what switch
        {
            "missing-model" => "no such file or folder",
            "both" or "neither" => "exactly one of --text and --jsonl",
            "bad-json-line" => "in.jsonl:2: not valid JSON",
            _ => "in.jsonl:1: expected a JSON object with a string field \"text\"",
        };
        Assert.Contains(expected, err);
    }
}
