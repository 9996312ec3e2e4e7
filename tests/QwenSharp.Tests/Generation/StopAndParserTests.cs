using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

public class StopStringTests
{
    [Fact]
    public void StopStringsMatchAcrossEverySplit()
    {
        const string text = "Hello wor<END>ld and more";
        for (int a = 0; a <= text.Length; a++)
            for (int b = a; b <= text.Length; b++)
            {
                var m = new StopStringMatcher(["<END>", "zzz"]);
                var sb = new StringBuilder();
                sb.Append(m.Push(text[..a])).Append(m.Push(text[a..b])).Append(m.Push(text[b..])).Append(m.Flush());
                Assert.Equal("Hello wor", sb.ToString());
                Assert.True(m.Stopped);
                Assert.Equal("<END>", m.Matched);
            }
    }

    [Fact]
    public void HeldTextIsReleasedWhenItIsNotAStop()
    {
        var m = new StopStringMatcher(["abc"]);
        Assert.Equal("x", m.Push("xab"));
        Assert.Equal("abd", m.Push("d"));
        Assert.Equal("", m.Push("a"));
        Assert.Equal("a", m.Flush());
        Assert.False(m.Stopped);
    }
}

/// <summary>The reasoning/content/tool-call parser fed recorded outputs split at every possible point.</summary>
public class ChatOutputParserTests
{
    sealed record Parsed(string Reasoning, string Content, List<ToolCall> Calls);

    static Parsed Run(IEnumerable<string> chunks, bool startInReasoning, bool tools = true, IReadOnlyDictionary<string, JsonObject>? schemas = null)
    {
        var p = new ChatOutputParser(startInReasoning, tools, schemas, "call");
        var r = new StringBuilder();
        var c = new StringBuilder();
        var calls = new List<ToolCall>();
        var deltas = chunks.SelectMany(p.Push).ToList();
        deltas.AddRange(p.Finish());
        foreach (var d in deltas)
        {
            r.Append(d.Reasoning);
            c.Append(d.Content);
            if (d.ToolCall != null) calls.Add(d.ToolCall);
        }
        return new Parsed(r.ToString(), c.ToString(), calls);
    }

    /// <summary>The whole text, then every split into two pieces, then every character alone.</summary>
    static IEnumerable<string[]> Splits(string s)
    {
        yield return [s];
        for (int i = 1; i < s.Length; i++) yield return [s[..i], s[i..]];
        yield return s.Select(ch => ch.ToString()).ToArray();
    }

    static void ForEverySplit(string output, bool startInReasoning, Action<Parsed> check, bool tools = true, IReadOnlyDictionary<string, JsonObject>? schemas = null)
    {
        foreach (var chunks in Splits(output)) check(Run(chunks, startInReasoning, tools, schemas));
    }

    [Fact]
    public void ModelOpensThinkBlock()
    {
        // Qwen3 (hybrid) with thinking on: the model writes <think> itself.
        ForEverySplit("<think>\nLet me add 2 and 2.\nIt is 4.\n</think>\n\nThe answer is 4.", false, p =>
        {
            Assert.Equal("Let me add 2 and 2.\nIt is 4.", p.Reasoning);
            Assert.Equal("The answer is 4.", p.Content);
            Assert.Empty(p.Calls);
        });
    }

    [Fact]
    public void TemplatePrefilledThink()
    {
        // Qwen3 thinking-2507: the prompt ends with "<think>\n"; the model continues with reasoning.
        ForEverySplit("Reasoning here.\n</think>\n\nDone.", true, p =>
        {
            Assert.Equal("Reasoning here.", p.Reasoning);
            Assert.Equal("Done.", p.Content);
        });
    }

    [Fact]
    public void ThinkingDisabledGivesOnlyContent()
    {
        // enable_thinking=false: the template wrote an empty think block; the model answers directly.
        ForEverySplit("Just the answer <b>bold</b>.", false, p =>
        {
            Assert.Equal("", p.Reasoning);
            Assert.Equal("Just the answer <b>bold</b>.", p.Content);
        });
    }

    [Fact]
    public void ToolCallsAfterReasoning()
    {
        const string output = "<think>\nNeed weather.\n</think>\n\nLet me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
        ForEverySplit(output, false, p =>
        {
            Assert.Equal("Need weather.", p.Reasoning);
            Assert.Equal("Let me check.\n", p.Content);
            Assert.Equal(2, p.Calls.Count);
            Assert.Equal("get_weather", p.Calls[0].Name);
            Assert.Equal("{\"city\":\"Paris\"}", p.Calls[0].Arguments);
            Assert.Equal("now", p.Calls[1].Name);
            Assert.Equal("{}", p.Calls[1].Arguments);
            Assert.All(p.Calls, c => Assert.True(c.IsValid));
            Assert.NotEqual(p.Calls[0].Id, p.Calls[1].Id);
        });
    }

    [Fact]
    public void ToolWithoutArgumentsAndStringArguments()
    {
        ForEverySplit("<tool_call>\n{\"name\": \"ping\"}\n</tool_call>", false, p =>
        {
            Assert.Single(p.Calls);
            Assert.Equal("ping", p.Calls[0].Name);
            Assert.Equal("{}", p.Calls[0].Arguments);
        });
        var r = Run(["<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>"], false);
        Assert.Equal("{\"a\":1}", r.Calls[0].Arguments);
    }

    [Fact]
    public void MalformedToolCallIsReportedNotThrown()
    {
        ForEverySplit("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>", false, p =>
        {
            Assert.Single(p.Calls);
            Assert.False(p.Calls[0].IsValid);
            Assert.Contains("not valid JSON", p.Calls[0].Error);
        });
        var unfinished = Run(["<tool_call>\n{\"name\": \"f\""], false);
        Assert.False(unfinished.Calls[0].IsValid);
        Assert.Contains("not finished", unfinished.Calls[0].Error);
    }

    [Fact]
    public void QwenCoderXmlCallsAreTypedBySchema()
    {
        var schemas = new Dictionary<string, JsonObject>
        {
            ["search"] = JsonNode.Parse("{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},\"limit\":{\"type\":\"integer\"},\"exact\":{\"type\":\"boolean\"}}}")!.AsObject(),
        };
        const string output = "I'll search.\n<tool_call>\n<function=search>\n<parameter=query>\nqwen 3 <b>\n</parameter>\n<parameter=limit>\n5\n</parameter>\n<parameter=exact>\ntrue\n</parameter>\n</function>\n</tool_call>";
        ForEverySplit(output, false, p =>
        {
            Assert.Equal("I'll search.\n", p.Content);
            Assert.Single(p.Calls);
            Assert.Equal("search", p.Calls[0].Name);
            Assert.Equal("{\"query\":\"qwen 3 <b>\",\"limit\":5,\"exact\":true}", p.Calls[0].Arguments);
        }, schemas: schemas);
    }

    [Fact]
    public void WithoutToolsTagsStayText()
    {
        ForEverySplit("Use <tool_call> tags like this.", false, p => Assert.Equal("Use <tool_call> tags like this.", p.Content), tools: false);
    }

    [Fact]
    public void UnfinishedReasoningIsStillReasoning()
    {
        ForEverySplit("<think>\nStill thinking", false, p =>
        {
            Assert.Equal("Still thinking", p.Reasoning);
            Assert.Equal("", p.Content);
        });
    }
}
