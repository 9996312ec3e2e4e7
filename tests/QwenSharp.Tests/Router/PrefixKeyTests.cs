using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

public sealed class PrefixKeyTests
{
    static readonly PrefixOptions Options = new() { BlockBytes = 32 };

    static PrefixKey Chat(JsonObject body) => PrefixKey.FromChatRequest(Encoding.UTF8.GetBytes(body.ToJsonString()), Options)!;

    static JsonObject Body(string model, params (string Role, string Content)[] messages) => new()
    {
        ["model"] = model,
        ["messages"] = new JsonArray(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray()),
    };

    [Fact]
    public void NextTurnContainsThisTurnsRememberedBoundaryAndKeepsItsAnchor()
    {
        var t1 = Chat(Body("m", ("system", "You are terse."), ("user", "Tell me about the history of Rome, from its founding onwards.")));
        var t2 = Chat(Body("m", ("system", "You are terse."), ("user", "Tell me about the history of Rome, from its founding onwards."),
            ("assistant", "Founded 753 BC; republic; empire; fell 476 AD."), ("user", "And Byzantium?")));
        Assert.NotNull(t1.Full);
        Assert.Contains(t1.Full!.Value, t2.Boundaries);
        Assert.Equal(t1.Anchor, t2.Anchor);
        Assert.True(t2.Length > t1.Length);
        Assert.True(t2.Boundaries.ToList().IndexOf(t1.Full.Value) >= t2.FirstAffinityBoundary);
    }

    [Fact]
    public void DifferentOpeningsOrModelsGiveDifferentAnchorsSameSystemPromptNotEnough()
    {
        var a = Chat(Body("m", ("system", "Shared system prompt that is quite long indeed."), ("user", "first question")));
        var b = Chat(Body("m", ("system", "Shared system prompt that is quite long indeed."), ("user", "second question")));
        var c = Chat(Body("other", ("system", "Shared system prompt that is quite long indeed."), ("user", "first question")));
        Assert.NotEqual(a.Anchor, b.Anchor);
        Assert.NotEqual(a.Anchor, c.Anchor);
        Assert.Equal("other", c.Model);
        // The boundary after the shared system prompt is never followed; the one after the opening is.
        Assert.Equal(2, a.Boundaries.Count);
        Assert.Equal(1, a.FirstAffinityBoundary);
        Assert.Equal(a.Boundaries[0], b.Boundaries[0]);
        Assert.Equal(a.Boundaries[1], a.Full);
    }

    [Fact]
    public void FieldsTemplatesDoNotRenderAreIgnoredToolsAndContentPartsCount()
    {
        var plain = Body("m", ("user", "hello there, how are you doing today my friend?"), ("assistant", "fine"), ("user", "good"));
        var decorated = JsonNode.Parse(plain.ToJsonString())!.AsObject();
        decorated["messages"]![1]!["refusal"] = null;
        decorated["messages"]![1]!["reasoning_content"] = "thinking...";
        decorated["temperature"] = 0.3;
        Assert.Equal(Chat(plain).Boundaries, Chat(decorated).Boundaries);
        Assert.Equal(Chat(plain).Anchor, Chat(decorated).Anchor);

        var parts = JsonNode.Parse(plain.ToJsonString())!.AsObject();
        parts["messages"]![0]!["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "hello there, how are you doing today my friend?" });
        Assert.Equal(Chat(plain).Anchor, Chat(parts).Anchor);

        var tools = JsonNode.Parse(plain.ToJsonString())!.AsObject();
        tools["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f" } });
        Assert.NotEqual(Chat(plain).Anchor, Chat(tools).Anchor);
    }

    [Fact]
    public void ToolCallsArePartOfThePrefix()
    {
        JsonObject WithCall(string args)
        {
            var b = Body("m", ("user", "what is the weather in Paris and in Rome, please?"));
            b["messages"]!.AsArray().Add(new JsonObject
            {
                ["role"] = "assistant", ["content"] = null,
                ["tool_calls"] = new JsonArray(new JsonObject { ["id"] = "x", ["type"] = "function", ["function"] = new JsonObject { ["name"] = "weather", ["arguments"] = args } }),
            });
            b["messages"]!.AsArray().Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = "x", ["content"] = "sunny, 21 degrees, light wind from the west" });
            return b;
        }
        Assert.NotEqual(Chat(WithCall("{\"city\":\"Paris\"}")).Boundaries[^1], Chat(WithCall("{\"city\":\"Rome\"}")).Boundaries[^1]);
        Assert.Equal(Chat(WithCall("{\"city\":\"Paris\"}")).Anchor, Chat(WithCall("{\"city\":\"Rome\"}")).Anchor);
    }

    [Fact]
    public void CompletionPromptsChatMlAnchorsAtTheFirstUserTurnPlainAtItsLeadingBytes()
    {
        PrefixKey Completion(string prompt) => PrefixKey.FromCompletionRequest(Encoding.UTF8.GetBytes(new JsonObject { ["model"] = "m", ["prompt"] = prompt }.ToJsonString()), Options)!;
        const string sys = "<|im_start|>system\nYou are terse.<|im_end|>\n";
        var a1 = Completion(sys + "<|im_start|>user\nquestion one<|im_end|>\n<|im_start|>assistant\n");
        var a2 = Completion(sys + "<|im_start|>user\nquestion one<|im_end|>\n<|im_start|>assistant\nanswer<|im_end|>\n<|im_start|>user\nmore<|im_end|>\n");
        var b = Completion(sys + "<|im_start|>user\nquestion two<|im_end|>\n<|im_start|>assistant\n");
        Assert.Equal(a1.Anchor, a2.Anchor);
        Assert.NotEqual(a1.Anchor, b.Anchor);

        var opts = new PrefixOptions { BlockBytes = 32, CompletionAnchorBytes = 64 };
        PrefixKey Plain(string prompt) => PrefixKey.FromCompletionRequest(Encoding.UTF8.GetBytes(new JsonObject { ["model"] = "m", ["prompt"] = prompt }.ToJsonString()), opts)!;
        string doc = new string('d', 100);
        Assert.Equal(Plain(doc + " question A").Anchor, Plain(doc + " question B").Anchor);
        Assert.NotEqual(Plain("short A").Anchor, Plain("short B").Anchor);
        Assert.Equal(0, Plain(doc).FirstAffinityBoundary);
        Assert.Equal(Plain(doc).Boundaries[^1], Plain(doc + " more text that grows the prompt beyond the next block").Boundaries[Plain(doc).Boundaries.Count - 1]);
        Assert.Contains(a1.Full!.Value, a2.Boundaries);
    }

    [Fact]
    public void NonObjectsAndMalformedJsonGiveNoKey()
    {
        Assert.Null(PrefixKey.FromChatRequest("{not json"u8, Options));
        Assert.Null(PrefixKey.FromChatRequest("[1,2]"u8, Options));
        Assert.Null(PrefixKey.FromCompletionRequest(""u8, Options));
        // Wrong types inside an object are the replica's to reject; the router still gets a key.
        Assert.NotNull(PrefixKey.FromChatRequest("{\"model\":3,\"messages\":\"x\"}"u8, Options));
    }
}
