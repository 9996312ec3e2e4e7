using System.Text.Json;
using QwenSharp.Tests.Models;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Cli;

/// <summary>`info`, `logits` and `generate` as users and scripts call them.</summary>
[Collection(QwenSharp.Tests.Samples.ConsoleCollection.Name)]
public class CoreCommandTests
{
    static string Dir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    [Fact]
    public void InfoDescribesTheModel()
    {
        var (code, o, e) = CliRunner.Run("info", "--model", Dir("qwen2moe-tiny"));
        Assert.True(code == 0, e);
        Assert.Contains("architecture:    qwen2_moe", o);
        Assert.Contains("4 experts of", o);
        (code, o, _) = CliRunner.Run("info", "--model", Dir("qwen3-tiny"), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(o);
        Assert.Equal("qwen3", doc.RootElement.GetProperty("architecture").GetString());
        Assert.Equal(512, doc.RootElement.GetProperty("vocab_size").GetInt32());
        Assert.True(doc.RootElement.GetProperty("parameters").GetInt64() > 800_000);
    }

    [Fact]
    public void LogitsWritesTheContractJsonMatchingTheReference()
    {
        var seq = Reference.Logits(Path.Combine(Dir("qwen3-tiny"), "reference", "logits-numpy.json"))[0];
        var outFile = Path.Combine(TestPaths.NewTempDir(), "l.json");
        var (code, _, e) = CliRunner.Run("logits", "--model", Dir("qwen3-tiny"), "--tokens", string.Join(",", seq.Tokens), "--out", outFile);
        Assert.True(code == 0, e);
        using var doc = JsonDocument.Parse(File.ReadAllText(outFile));
        Assert.Equal(seq.Tokens, doc.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
        var logits = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        Assert.True(Reference.Compare(logits, seq.Logits).MaxAbs <= 1e-3);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outFile)!, "*.tmp*"));
    }

    [Theory]
    [InlineData("1,x", "'x' is not a token id")]
    [InlineData("1,99999", "outside the vocabulary")]
    [InlineData("", "at least one token id")]
    public void LogitsRejectsBadTokens(string tokens, string message)
    {
        var (code, _, e) = CliRunner.Run("logits", "--model", Dir("qwen3-tiny"), "--tokens", tokens);
        Assert.NotEqual(0, code);
        Assert.Contains(message, e);
        Assert.DoesNotContain("   at ", e); // no stack trace
    }

    [Fact]
    public void MissingOrBrokenModelsAreOneLineErrors()
    {
        var (code, _, e) = CliRunner.Run("info", "--model", "/nonexistent/model/dir");
        Assert.NotEqual(0, code);
        Assert.Contains("/nonexistent/model/dir", e);
        Assert.DoesNotContain("   at ", e);
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "bad.gguf"), new string('x', 100));
        (code, _, e) = CliRunner.Run("info", "--model", Path.Combine(dir, "bad.gguf"));
        Assert.Equal(1, code);
        Assert.Contains("not a GGUF file", e);
    }

    [Fact]
    public void GenerateRawGreedyEqualsLlamaCpp()
    {
        var tokenizer = QwenTokenizer.FromDirectory(Dir("qwen2-tiny"));
        var (name, prompt, generated) = Reference.Greedy(Path.Combine(Dir("qwen2-tiny"), "reference", "greedy-llamacpp-F32.json"))[0];
        string text = tokenizer.Decode(prompt);
        Assert.Equal(prompt, tokenizer.Encode(text)); // the prompt text round-trips to the same ids
        var (code, o, e) = CliRunner.Run("generate", "--model", Dir("qwen2-tiny"), "--raw", "--prompt", text, "--temperature", "0",
            "--max-tokens", generated.Length.ToString(), "--ignore-eos", "--kv-type", "f32", "--json");
        Assert.True(code == 0, e);
        using var doc = JsonDocument.Parse(o);
        var root = doc.RootElement;
        Assert.Equal(generated, root.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal("length", root.GetProperty("finish_reason").GetString());
        Assert.Equal(generated.Length, root.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(prompt.Length, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        foreach (var key in new[] { "text", "reasoning", "tool_calls" }) Assert.True(root.TryGetProperty(key, out _), key);
    }

    [Fact]
    public void GenerateChatWithSeedIsRepeatable()
    {
        string[] args = ["generate", "--model", Dir("qwen3-tiny"), "--prompt", "Hello", "--seed", "42", "--temperature", "0.9", "--max-tokens", "12", "--system", "Be brief.", "--no-think", "--json"];
        var a = CliRunner.Run(args);
        var b = CliRunner.Run(args);
        Assert.True(a.Code == 0, a.Err);
        Assert.Equal(a.Out, b.Out);
    }

    [Theory]
    [InlineData(new[] { "--top-p", "2" }, "--top-p")]
    [InlineData(new[] { "--temperature", "-1" }, "--temperature")]
    [InlineData(new[] { "--think", "--no-think" }, "--think and --no-think")]
    [InlineData(new[] { "--raw", "--system", "x" }, "--raw")]
    [InlineData(new[] { "--tools", "/nonexistent.json" }, "--tools")]
    [InlineData(new[] { "--kv-type", "q3" }, "--kv-type")]
    public void GenerateNamesTheBadFlag(string[] extra, string message)
    {
        var (code, _, e) = CliRunner.Run(["generate", "--model", Dir("qwen3-tiny"), "--prompt", "x", .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(message, e);
    }

    [Fact]
    public void ChatRunsCommandsAndAnswers()
    {
        var input = new StringReader("/help\n/no_think\nHello\n/save " + Path.Combine(TestPaths.NewTempDir(), "chat.json") + "\n/reset\n/exit\n");
        var old = Console.In;
        Console.SetIn(input);
        try
        {
            var (code, o, e) = CliRunner.Run("chat", "--model", Dir("qwen3-tiny"), "--max-tokens", "8", "--temperature", "0");
            Assert.True(code == 0, e);
            Assert.Contains("thinking off", o);
            Assert.Contains("tok/s", o);
            Assert.Contains("saved 2 messages", o);
            Assert.Contains("conversation cleared", o);
        }
        finally { Console.SetIn(old); }
    }
}
