using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>ChatTemplate.Render's handling of transformers' arguments: continue_final_message, special tokens,
/// documents, extra variables, the typed input, and the inputs transformers rejects. Expected values in
/// engine/api-cases.jsonl come from engine/make_api_cases.py (transformers' logic on Python Jinja2).</summary>
public class ChatTemplateApiTests
{
    public sealed record ApiCase(int Id, string Template, JsonObject Kwargs, string? Expected, string? Error);

    static readonly Lazy<IReadOnlyList<ApiCase>> All = new(() =>
        File.ReadLines(Path.Combine(TemplateFixtures.Dir, "engine", "api-cases.jsonl"))
            .Select(l => JsonNode.Parse(l)!.AsObject())
            .Select(o => new ApiCase((int)o["id"]!, (string)o["template"]!, o["kwargs"]!.AsObject(), (string?)o["expected"], (string?)o["error"]))
            .ToList());

    public static IEnumerable<object[]> Ids() => All.Value.Select(c => new object[] { c.Id });

    static readonly Dictionary<string, JsonNode?> Special = new() { ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>" };

    [Theory]
    [MemberData(nameof(Ids))]
    public void Render_matches_transformers(int id)
    {
        var c = All.Value[id];
        var source = c.Template.Contains('{') ? c.Template : TemplateFixtures.TemplateSource(c.Template);
        var chat = ChatTemplate.Parse(source, "case" + id).WithSpecialTokens(Special);
        var kwargs = JsonNode.Parse(c.Kwargs.ToJsonString())!.AsObject();
        string before = kwargs.ToJsonString();
        if (c.Expected == null)
        {
            var e = Assert.Throws<TemplateException>(() => chat.Render(kwargs));
            Assert.Equal(0, e.Line); // an input problem, not a template position
            Assert.False(string.IsNullOrWhiteSpace(e.Reason));
        }
        else Assert.Equal(c.Expected, chat.Render(kwargs));
        Assert.Equal(before, kwargs.ToJsonString()); // the caller's data is never changed
    }

    [Fact]
    public void Typed_input_renders_like_the_kwargs()
    {
        foreach (var c in TemplateFixtures.Cases.Where(c => c.Expected != null && c.Template is "qwen3" or "qwen2.5-vl-instruct" or "qwen3-coder"))
        {
            var k = TemplateFixtures.Kwargs(c);
            var input = new ChatTemplateInput
            {
                Messages = k["messages"]!.AsArray(),
                Tools = k["tools"]?.AsArray(),
                AddGenerationPrompt = (bool?)k["add_generation_prompt"] ?? false,
                ContinueFinalMessage = (bool?)k["continue_final_message"] ?? false,
            };
            foreach (var (key, value) in k)
                if (key is not ("messages" or "tools" or "add_generation_prompt" or "continue_final_message"))
                    input.Variables[key] = value?.DeepClone();
            Assert.Equal(c.Expected, TemplateFixtures.Template(c.Template).Render(input));
        }
    }

    [Fact]
    public void Input_errors_are_template_exceptions_without_position()
    {
        var chat = TemplateFixtures.Template("qwen3");
        foreach (var bad in new[]
                 {
                     "{}",
                     """{"messages": "hi"}""",
                     """{"messages": [], "tools": {"a": 1}}""",
                     """{"messages": [], "tools": [1]}""",
                     """{"messages": [], "tokenize": true}""",
                     """{"messages": [], "chat_template": "x"}""",
                     """{"messages": [{"role": "user", "content": "a"}], "conversation": []}""",
                 })
        {
            var e = Assert.Throws<TemplateException>(() => chat.Render(JsonNode.Parse(bad)!.AsObject()));
            Assert.Equal(0, e.Line);
            Assert.StartsWith("InputError:", e.Reason);
        }
        var typed = new ChatTemplateInput { Variables = { ["messages"] = new JsonArray() } };
        Assert.Throws<TemplateException>(() => chat.Render(typed));
    }

    [Fact]
    public void Tokenizer_only_arguments_are_ignored_and_conversation_is_an_alias()
    {
        var chat = TemplateFixtures.Template("qwen2.5-instruct");
        var plain = chat.Render(JsonNode.Parse("""{"messages": [{"role": "user", "content": "a"}]}""")!.AsObject());
        var withExtras = chat.Render(JsonNode.Parse("""{"conversation": [{"role": "user", "content": "a"}], "tokenize": false, "return_tensors": "pt", "padding": true}""")!.AsObject());
        Assert.Equal(plain, withExtras);
    }

    [Fact]
    public void Strftime_now_uses_the_clock()
    {
        var chat = ChatTemplate.Parse("{{ strftime_now('%d %b %Y') }}").WithClock(() => new DateTime(2024, 7, 26, 10, 0, 0));
        Assert.Equal("26 Jul 2024", chat.Render(new JsonObject { ["messages"] = new JsonArray() }));
    }

    [Fact]
    public void Rendering_is_thread_safe()
    {
        var cases = TemplateFixtures.Cases.Where(c => c.Expected != null).Take(120).ToArray();
        Parallel.ForEach(Enumerable.Range(0, 4 * cases.Length), new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var c = cases[i % cases.Length];
            Assert.Equal(c.Expected, TemplateFixtures.Template(c.Template).Render(TemplateFixtures.Kwargs(c)));
        });
    }
}

/// <summary>JSON values built in C# keep their number kind (int vs float), as Python's json.loads would read
/// their JSON text for integers and as the caller meant for floating point.</summary>
public class JsonValueKindTests
{
    [Fact]
    public void Clr_numbers_keep_int_or_float()
    {
        var chat = ChatTemplate.Parse("{{ v | tojson }}");
        string Render(JsonNode? v) => chat.Render(new JsonObject { ["messages"] = new JsonArray(), ["v"] = v });
        Assert.Equal("[3, 2.0, 0.1, 0.5, 18446744073709551615, -7, \"c\", true, null]", Render(new JsonArray(
            JsonValue.Create(3), JsonValue.Create(2.0), JsonValue.Create(0.1f), JsonValue.Create(0.5m), JsonValue.Create(ulong.MaxValue),
            JsonValue.Create((short)-7), JsonValue.Create('c'), JsonValue.Create(true), null)));
        Assert.Equal("[2, 2.0, 100000.0, 1e-07]", Render(JsonNode.Parse("[2, 2.0, 1e5, 1E-7]")));
    }
}
