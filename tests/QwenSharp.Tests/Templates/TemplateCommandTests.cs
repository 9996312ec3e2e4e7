using System.Text.Json.Nodes;
using QwenSharp.Cli;

namespace QwenSharp.Tests.Templates;

/// <summary>`qwensharp template`: prints the rendered prompt exactly, or one JSON line per input in jsonl mode.</summary>
public class TemplateCommandTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    static string WriteKwargs(TemplateFixtures.Case c)
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "kwargs.json");
        File.WriteAllText(path, c.Kwargs.ToJsonString());
        return path;
    }

    static TemplateFixtures.Case Golden(string template, string scenario) =>
        TemplateFixtures.Cases.Single(c => c.Template == template && c.Scenario == scenario);

    [Fact]
    public void Prints_the_prompt_exactly_from_a_template_file()
    {
        var c = Golden("qwen3", "multi_step_tool_reasoning");
        var (code, output, err) = Run("template", "--template", Path.Combine(TemplateFixtures.Dir, "qwen3.jinja"), "--kwargs", WriteKwargs(c));
        Assert.Equal(0, code);
        Assert.Equal(c.Expected, output);
        Assert.Equal("", err);
    }

    [Fact]
    public void Prints_the_prompt_exactly_from_a_model()
    {
        var c = Golden("qwen3-2504", "enable_thinking_false");
        var model = Path.Combine(TemplateFixtures.Dir, "configs", "qwen3-2504.tokenizer_config.json");
        var (code, output, _) = Run("template", "--model", model, "--kwargs", WriteKwargs(c));
        Assert.Equal(0, code);
        Assert.Equal(c.Expected, output);
    }

    [Fact]
    public void Jsonl_mode_prints_one_line_per_input()
    {
        var ok = Golden("qwen3-coder", "tool_complex_schema");
        var failing = TemplateFixtures.Cases.Single(c => c.Expected == null);
        var path = Path.Combine(TestPaths.NewTempDir(), "in.jsonl");
        File.WriteAllText(path, string.Join("\n", ok.Kwargs.ToJsonString(), "{broken", "", failing.Kwargs.ToJsonString(), "[1]") + "\n");
        var (code, output, _) = Run("template", "--template", Path.Combine(TemplateFixtures.Dir, "qwen3-coder.jinja"), "--kwargs-jsonl", path);
        Assert.Equal(0, code);
        var lines = output.Split('\n');
        Assert.Equal(5, lines.Length); // four results, then the final newline
        Assert.Equal("", lines[4]);
        Assert.Equal(ok.Expected, (string?)JsonNode.Parse(lines[0])!["output"]);
        Assert.Contains("line 2: invalid JSON", (string?)JsonNode.Parse(lines[1])!["error"]);
        Assert.Contains("Can only get item pairs from a mapping", (string?)JsonNode.Parse(lines[2])!["error"]);
        Assert.Contains("expected a JSON object", (string?)JsonNode.Parse(lines[3])!["error"]);
    }

    [Fact]
    public void Errors_are_one_line_with_a_non_zero_exit()
    {
        var c = Golden("qwen3", "single_user");
        var kwargs = WriteKwargs(c);
        var template = Path.Combine(TemplateFixtures.Dir, "qwen3.jinja");

        var (code, output, err) = Run("template", "--template", template, "--model", "x", "--kwargs", kwargs);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("exactly one of --model", err);

        (code, _, err) = Run("template", "--template", template);
        Assert.Equal(2, code);
        Assert.Contains("exactly one of --kwargs", err);

        (code, _, err) = Run("template", "--template", template, "--kwargs", Path.Combine(TestPaths.NewTempDir(), "missing.json"));
        Assert.Equal(1, code);
        Assert.Contains("cannot read --kwargs", err);

        var bad = Path.Combine(TestPaths.NewTempDir(), "bad.jinja");
        File.WriteAllText(bad, "ok\n{% for m in messages %}");
        (code, _, err) = Run("template", "--template", bad, "--kwargs", kwargs);
        Assert.Equal(1, code);
        Assert.Contains("line 2", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));

        var failing = TemplateFixtures.Cases.Single(x => x.Expected == null);
        (code, output, err) = Run("template", "--template", Path.Combine(TemplateFixtures.Dir, "qwen3-coder.jinja"), "--kwargs", WriteKwargs(failing));
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("Can only get item pairs from a mapping", err);
    }

    [Fact]
    public void A_model_without_a_template_uses_chatml_and_says_so_on_stderr()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{}");
        var kwargs = Path.Combine(dir, "k.json");
        File.WriteAllText(kwargs, """{"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true}""");
        var (code, output, err) = Run("template", "--model", dir, "--kwargs", kwargs);
        Assert.Equal(0, code);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", output);
        Assert.Contains("ChatML", err);
    }
}
