using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>Templates read from models: tokenizer_config.json (string or named list), chat_template.jinja,
/// chat_template.json, GGUF metadata, and the ChatML fallback.</summary>
public class ModelTemplateTests
{
    static string Configs => Path.Combine(TemplateFixtures.Dir, "configs");

    static JsonObject SimpleChat(bool generationPrompt = true) => new()
    {
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
        ["add_generation_prompt"] = generationPrompt,
    };

    [Theory]
    [InlineData("qwen3-2504.tokenizer_config.json", "qwen3-2504")]
    [InlineData("qwen3-1.7b.tokenizer_config.json", "qwen3")]
    [InlineData("qwen3-4b-instruct-2507.tokenizer_config.json", "qwen3-instruct-2507")]
    public void Tokenizer_configs_carry_the_fixture_templates_and_render_the_golden_cases(string config, string template)
    {
        var chat = ChatTemplate.FromModel(Path.Combine(Configs, config));
        Assert.False(chat.IsFallback);
        Assert.Equal(TemplateFixtures.TemplateSource(template), chat.Source);
        Assert.Equal("<|im_end|>", (string?)chat.SpecialTokens["eos_token"]);
        Assert.Equal("<|endoftext|>", (string?)chat.SpecialTokens["pad_token"]);
        Assert.Equal(13, chat.SpecialTokens["additional_special_tokens"]!.AsArray().Count);
        Assert.False(chat.SpecialTokens.ContainsKey("bos_token")); // null in the config: not passed, as in transformers
        int checkedCases = 0;
        foreach (var c in TemplateFixtures.Cases.Where(c => c.Template == template && c.Expected != null))
        {
            Assert.Equal(c.Expected, chat.Render(TemplateFixtures.Kwargs(c)));
            checkedCases++;
        }
        Assert.True(checkedCases >= 35);
    }

    [Fact]
    public void Fixture_model_template_renders_chatml()
    {
        var path = Path.Combine(Configs, "qwen3-tiny.tokenizer_config.json");
        var chat = ChatTemplate.FromModel(path);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", chat.Render(SimpleChat()));
        Assert.Equal((string?)JsonNode.Parse(File.ReadAllText(path))!["eos_token"], (string?)chat.SpecialTokens["eos_token"]);
    }

    [Fact]
    public void Model_folder_prefers_chat_template_jinja_then_tokenizer_config_then_chat_template_json()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "chat_template.json"), new JsonObject { ["chat_template"] = "from-processor" }.ToJsonString());
        Assert.Equal("from-processor", ChatTemplate.FromModel(dir).Render(SimpleChat()));
        File.Copy(Path.Combine(Configs, "qwen3-2504.tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        var fromConfig = ChatTemplate.FromModel(dir);
        Assert.Equal(TemplateFixtures.TemplateSource("qwen3-2504"), fromConfig.Source);
        File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "J{{ messages[0].content }}{{ eos_token }}");
        var fromJinja = ChatTemplate.FromModel(dir);
        Assert.Equal("JHi<|im_end|>", fromJinja.Render(SimpleChat()));
        Assert.EndsWith("chat_template.jinja", fromJinja.Origin);
    }

    [Fact]
    public void Named_templates_take_default_or_the_requested_name()
    {
        var dir = TestPaths.NewTempDir();
        var config = new JsonObject
        {
            ["eos_token"] = new JsonObject { ["content"] = "<|im_end|>", ["special"] = true },
            ["chat_template"] = new JsonArray(
                new JsonObject { ["name"] = "default", ["template"] = "D:{{ messages[0].content }}" },
                new JsonObject { ["name"] = "tool_use", ["template"] = "T:{{ eos_token }}" }),
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        Assert.Equal("D:Hi", ChatTemplate.FromModel(dir).Render(SimpleChat()));
        Assert.Equal("T:<|im_end|>", ChatTemplate.FromModel(dir, "tool_use").Render(SimpleChat()));
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.FromModel(dir, "missing"));
        Assert.Contains("'tool_use'", e.Message);

        config["chat_template"] = new JsonArray(new JsonObject { ["name"] = "rag", ["template"] = "R" });
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        e = Assert.Throws<TemplateException>(() => ChatTemplate.FromModel(dir));
        Assert.Contains("none is named 'default'", e.Message);
    }

    [Fact]
    public void A_model_without_a_template_falls_back_to_chatml()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"eos_token": "<|im_end|>", "chat_template": null}""");
        var chat = ChatTemplate.FromModel(dir);
        Assert.True(chat.IsFallback);
        Assert.Equal(ChatTemplate.ChatMLSource, chat.Source);
        Assert.Contains("fallback", chat.Origin);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", chat.Render(SimpleChat()));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n", ChatTemplate.ChatML.Render(SimpleChat(false)));
        Assert.False(ChatTemplate.ChatML.IsFallback);
    }

    [Fact]
    public void A_template_that_does_not_parse_fails_when_the_model_loads()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": "line one\n{% for m in messages %}{{ m.content }"}""");
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.FromModel(dir));
        Assert.Equal(2, e.Line);
        Assert.Contains("tokenizer_config.json", e.Message);
    }

    [Fact]
    public void Bad_model_files_give_clear_errors()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{not json");
        var e = Assert.Throws<ModelFormatException>(() => ChatTemplate.FromModel(dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": 42}""");
        Assert.Throws<ModelFormatException>(() => ChatTemplate.FromModel(dir));
        Assert.Throws<FileNotFoundException>(() => ChatTemplate.FromModel(Path.Combine(dir, "nope")));
        var junk = Path.Combine(dir, "model.bin");
        File.WriteAllBytes(junk, [1, 2, 3, 4, 5]);
        Assert.Throws<ModelFormatException>(() => ChatTemplate.FromModel(junk));
        var fakeGguf = Path.Combine(dir, "broken.gguf");
        File.WriteAllBytes(fakeGguf, "GGUF\u0003"u8.ToArray());
        Assert.Throws<ModelFormatException>(() => ChatTemplate.FromModel(fakeGguf));
    }

    static string WriteGguf(string dir, string? template, params (string Key, object Value)[] extra)
    {
        var w = new GgufWriter()
            .Add("general.architecture", "qwen3")
            .Add("tokenizer.ggml.tokens", new[] { "<|endoftext|>", "<|im_start|>", "<|im_end|>", "a" })
            .Add("tokenizer.ggml.eos_token_id", 2u)
            .Add("tokenizer.ggml.padding_token_id", 0u)
            .Add("tokenizer.ggml.bos_token_id", 0u);
        if (template != null) w.Add("tokenizer.chat_template", template);
        foreach (var (k, v) in extra) w.Add(k, v);
        w.AddTensor("token_embd.weight", new float[8], 4, 2);
        var path = Path.Combine(dir, $"m{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return path;
    }

    [Fact]
    public void Gguf_metadata_template_and_special_tokens()
    {
        var dir = TestPaths.NewTempDir();
        var path = WriteGguf(dir, TemplateFixtures.TemplateSource("qwen3"), ("tokenizer.chat_template.tool_use", "TOOLS {{ bos_token }}"));
        var chat = ChatTemplate.FromModel(path);
        Assert.False(chat.IsFallback);
        Assert.Equal(TemplateFixtures.TemplateSource("qwen3"), chat.Source);
        Assert.Equal("<|im_end|>", (string?)chat.SpecialTokens["eos_token"]);
        Assert.Equal("<|endoftext|>", (string?)chat.SpecialTokens["bos_token"]);
        var c = TemplateFixtures.Cases.First(x => x.Template == "qwen3" && x.Scenario == "tool_call_dict_args");
        Assert.Equal(c.Expected, chat.Render(TemplateFixtures.Kwargs(c)));
        Assert.Equal("TOOLS <|endoftext|>", ChatTemplate.FromModel(path, "tool_use").Render(SimpleChat()));
        Assert.Throws<TemplateException>(() => ChatTemplate.FromModel(path, "nope"));

        var bare = ChatTemplate.FromModel(WriteGguf(dir, null));
        Assert.True(bare.IsFallback);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", bare.Render(SimpleChat()));
    }

    public static IEnumerable<object[]> SharedGgufFiles()
    {
        var root = TestPaths.SharedFixtures;
        if (root == null) return [new object[] { "" }];
        return Directory.GetFiles(Path.Combine(root, "models"), "*.gguf", SearchOption.AllDirectories)
            .Order().Select(f => new object[] { Path.GetRelativePath(root, f) });
    }

    [SharedFixtureTheory]
    [MemberData(nameof(SharedGgufFiles))]
    public void Shared_model_gguf_templates_match_their_tokenizer_config(string relativePath)
    {
        var gguf = Path.Combine(TestPaths.SharedFixtures!, relativePath);
        var folder = Path.GetDirectoryName(Path.GetDirectoryName(gguf))!;
        var fromGguf = ChatTemplate.FromModel(gguf);
        var fromFolder = ChatTemplate.FromModel(folder);
        Assert.False(fromGguf.IsFallback);
        Assert.Equal(fromFolder.Source, fromGguf.Source);
        var kwargs = SimpleChat();
        Assert.Equal(fromFolder.Render(kwargs), fromGguf.Render(SimpleChat()));
    }

    [SharedFixtureFact]
    public void Shared_model_folders_and_tokenizer_configs_all_load()
    {
        var root = TestPaths.SharedFixtures!;
        foreach (var dir in Directory.GetDirectories(Path.Combine(root, "models")))
        {
            var chat = ChatTemplate.FromModel(dir);
            Assert.False(chat.IsFallback, dir);
            Assert.StartsWith("<|im_start|>user\nHi<|im_end|>\n", chat.Render(SimpleChat()));
        }
        foreach (var config in Directory.GetFiles(Path.Combine(root, "tokenizer", "qwen3"), "tokenizer_config*.json"))
            Assert.False(ChatTemplate.FromModel(config).IsFallback);
    }
}
