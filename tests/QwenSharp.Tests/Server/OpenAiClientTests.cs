using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental
using ChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;

namespace QwenSharp.Tests.Server;

/// <summary>
/// The official OpenAI .NET client, through Microsoft.Extensions.AI's IChatClient, against a real Kestrel:
/// chat, streaming, reasoning_content, tools (with UseFunctionInvocation), tool_choice, logprobs.
/// </summary>
[Collection("Server")]
public class OpenAiClientTests(ScriptedServerFixture fx) : IClassFixture<ScriptedServerFixture>
{
    TestServer S => fx.Server;

    ChatClient OpenAiChat(string model = "qwen3-tiny", string key = "unused") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(S.BaseUri, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(90) });

    IChatClient Client() => OpenAiChat().AsIChatClient();

    [Fact]
    public async Task ChatAnswersWithTheScriptedTextAndUsage()
    {
        fx.Script = _ => S.Script("Hello there!");
        var r = await Client().GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { AdditionalProperties = null, Reasoning = new ReasoningOptions { Effort = ReasoningEffort.None } });
        Assert.Equal("Hello there!", r.Text);
        Assert.Equal(ChatFinishReason.Stop, r.FinishReason);
        Assert.NotNull(r.Usage);
        // "Hello there!" plus the end token.
        Assert.Equal(S.Script("Hello there!").Length, r.Usage!.OutputTokenCount);
        Assert.True(r.Usage.InputTokenCount > 5);
        Assert.Equal("qwen3-tiny", r.ModelId);
    }

    [Fact]
    public async Task StreamingDeliversTheSameTextAndUsage()
    {
        fx.Script = _ => S.Script("One, two, three.");
        var text = new StringBuilder();
        int updates = 0;
        UsageDetails? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var u in Client().GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Count")]))
        {
            updates++;
            text.Append(u.Text);
            finish ??= u.FinishReason;
            foreach (var c in u.Contents) if (c is UsageContent uc) usage = uc.Details;
        }
        Assert.Equal("One, two, three.", text.ToString());
        Assert.True(updates > 3, $"expected the answer in several chunks, got {updates}");
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.NotNull(usage);
        Assert.Equal(S.Script("One, two, three.").Length, usage!.OutputTokenCount);
    }

    [Fact]
    public async Task ReasoningComesBackAsReasoningContent()
    {
        fx.Script = _ => S.Script("<think>\nTwo and two.\n</think>\n\nIt is 4.");
        var messages = new List<ChatMessage> { new(ChatRole.User, "What is 2+2?") };
        var r = await Client().GetResponseAsync(messages);
        Assert.Equal("It is 4.", r.Text);
        Assert.Equal("Two and two.", string.Concat(r.Messages.SelectMany(m => m.Contents).OfType<TextReasoningContent>().Select(t => t.Text)));

        var reasoning = new StringBuilder();
        var text = new StringBuilder();
        await foreach (var u in Client().GetStreamingResponseAsync(messages))
            foreach (var c in u.Contents)
            {
                if (c is TextReasoningContent rc) reasoning.Append(rc.Text);
                if (c is TextContent tc) text.Append(tc.Text);
            }
        Assert.Equal("Two and two.", reasoning.ToString());
        Assert.Equal("It is 4.", text.ToString());
    }

    [Fact]
    public async Task FunctionInvocationRunsARealToolThroughTheServer()
    {
        int toolResponse = S.Qwen.Tokenizer.TokenToId("<tool_response>")!.Value;
        var call = S.Script("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        var answer = S.Script("It is sunny in Paris.");
        // First round the model calls the tool; once the prompt holds the tool's result, it answers.
        fx.Script = prompt => prompt.Contains(toolResponse) ? answer : call;
        string? calledWith = null;
        var weather = AIFunctionFactory.Create((string city) => { calledWith = city; return $"Sunny, 24 C in {city}"; }, "get_weather", "Current weather for a city");
        var client = new ChatClientBuilder(Client()).UseFunctionInvocation().Build();
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Weather in Paris?")], new ChatOptions { Tools = [weather] });
        Assert.Equal("Paris", calledWith);
        Assert.Equal("It is sunny in Paris.", r.Text);
        var fc = Assert.Single(r.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", fc.Name);
        Assert.Contains(r.Messages.SelectMany(m => m.Contents), c => c is FunctionResultContent);
    }

    [Fact]
    public async Task StreamedToolCallsArriveAsFunctionCalls()
    {
        fx.Script = _ => S.Script("<tool_call>\n{\"name\": \"lookup\", \"arguments\": {\"q\": \"qwen\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"lookup\", \"arguments\": {\"q\": \"sharp\"}}\n</tool_call>");
        var lookup = AIFunctionFactory.Create((string q) => q, "lookup", "Looks something up");
        var calls = new List<FunctionCallContent>();
        ChatFinishReason? finish = null;
        await foreach (var u in Client().GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Find")], new ChatOptions { Tools = [lookup] }))
        {
            calls.AddRange(u.Contents.OfType<FunctionCallContent>());
            finish ??= u.FinishReason;
        }
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c => Assert.Equal("lookup", c.Name));
        Assert.Equal(["qwen", "sharp"], calls.Select(c => c.Arguments!["q"]!.ToString()));
        Assert.Equal(2, calls.Select(c => c.CallId).Distinct().Count());
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
    }

    [Fact]
    public async Task NamedToolChoiceMakesTheModelCallThatTool()
    {
        // tool_choice {"type":"function","function":{"name":"lookup"}}: the prompt is pre-filled up to the arguments.
        fx.Script = _ => S.Script("{\"q\": \"forced\"}}\n</tool_call>");
        var lookup = AIFunctionFactory.Create((string q) => q, "lookup", "Looks something up");
        var other = AIFunctionFactory.Create((int x) => x, "other", "Something else");
        var r = await Client().GetResponseAsync([new ChatMessage(ChatRole.User, "x")],
            new ChatOptions { Tools = [other, lookup], ToolMode = ChatToolMode.RequireSpecific("lookup") });
        var fc = Assert.Single(r.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("lookup", fc.Name);
        Assert.Equal("forced", fc.Arguments!["q"]!.ToString());
    }

    [Fact]
    public async Task LogprobsThroughTheOpenAiClient()
    {
        fx.Script = null;
        var options = new ChatCompletionOptions { IncludeLogProbabilities = true, TopLogProbabilityCount = 3, MaxOutputTokenCount = 6, Seed = 7, Temperature = 1f };
        ChatCompletion c = await OpenAiChat().CompleteChatAsync([new UserChatMessage("Hi")], options);
        Assert.Equal(6, c.Usage.OutputTokenCount);
        Assert.Equal(6, c.ContentTokenLogProbabilities.Count);
        foreach (var t in c.ContentTokenLogProbabilities)
        {
            Assert.True(t.LogProbability <= 0);
            Assert.Equal(3, t.TopLogProbabilities.Count);
            // The alternatives come most likely first.
            Assert.True(t.TopLogProbabilities[0].LogProbability >= t.TopLogProbabilities[2].LogProbability);
            Assert.True(t.LogProbability <= t.TopLogProbabilities[0].LogProbability + 1e-4);
        }
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, c.FinishReason);
    }

    [Fact]
    public async Task AWrongModelNameIsA404FromTheClient()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => OpenAiChat("gpt-4o").CompleteChatAsync([new UserChatMessage("Hi")]));
        Assert.Equal(404, e.Status);
        Assert.Contains("gpt-4o", e.Message);
    }
}
