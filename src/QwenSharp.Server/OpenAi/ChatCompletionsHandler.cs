using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using QwenSharp.Generation;
using QwenSharp.Server.Metrics;
using QwenSharp.Server.Security;
using QwenSharp.Templates;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// POST /v1/chat/completions: the conversation is rendered with the model's own chat template, each of
/// the <c>n</c> choices runs as its own sequence in the engine's continuous batch, and the answer comes
/// back whole or as OpenAI's chunk stream, with <c>reasoning_content</c>, <c>tool_calls</c>, logprobs and usage.
/// </summary>
public sealed class ChatCompletionsHandler(Qwen qwen, ServedModels models, IOptions<QwenServerOptions> options, ServerMetrics metrics,
    TokenRateLimiter tokenLimits, TokenBytes tokenBytes, ILogger<ChatCompletionsHandler> log)
{
    readonly QwenServerOptions _options = options.Value;

    public async Task HandleAsync(RequestScope scope)
    {
        var ctx = scope.Http;
        var body = await RequestBody.ReadObjectAsync(ctx, _options.MaxBodyBytes).ConfigureAwait(false);
        var req = ChatRequest.Parse(body, _options, models, qwen.Model.Config.VocabSize);

        // Render and tokenize once up front: template errors and over-long prompts are answered before anything runs.
        PromptEncoder.EncodedPrompt prompt;
        try { prompt = qwen.Prompts.Encode(req.Messages, req.Options); }
        catch (TemplateException e) { throw OpenAiException.Unprocessable("the chat template rejected these messages: " + e.Reason, "messages", "template_error"); }
        var options = req.Options with { Sampling = Limits.CheckPrompt(prompt.Ids.Length, req.Options.Sampling, req.MaxTokensRequested, _options, models.MaxModelLength, "messages") };
        tokenLimits.Admit(scope.Client, prompt.Ids.Length);
        if (_options.LogPrompts) log.LogInformation("{RequestId} messages: {Messages}", scope.Id, req.Messages.ToJsonString(JsonText.Options));

        var choices = new ChoiceStream[req.N];
        for (int i = 0; i < req.N; i++)
        {
            var o = options;
            // Choice i samples with seed + i, so n choices differ and each is reproducible.
            if (o.Sampling.Seed is long seed && i > 0) o = o with { Sampling = o.Sampling with { Seed = seed + i } };
            if (_options.ConfigureGeneration != null) o = _options.ConfigureGeneration(o);
            choices[i] = new ChoiceStream(i, qwen.ChatStreamAsync(req.Messages, o, scope.Token), scope.Token, scope.Start, metrics);
        }
        await ChoiceStream.StartAllAsync(choices, scope.Cancel, _options.OverloadRetryAfterSeconds).ConfigureAwait(false);

        string model = req.Model ?? models.Name;
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var results = new ChoiceResult[req.N];
        for (int i = 0; i < req.N; i++) results[i] = new ChoiceResult(_options.LogPrompts || !req.Stream);
        Task[] pumps = [];
        try
        {
            if (req.Stream)
            {
                using var sse = new SseWriter(ctx, ctx.RequestAborted);
                await sse.StartAsync(scope.Id).ConfigureAwait(false);
                pumps = choices.Select(c => StreamChoiceAsync(c, results[c.Index], sse, scope, model, created, req)).ToArray();
                await Task.WhenAll(pumps).ConfigureAwait(false);
                var usage = Usage(results);
                if (req.IncludeUsage) await sse.WriteUsageAsync(w => Header(w, scope.Id, created, model), usage).ConfigureAwait(false);
                await sse.DoneAsync().ConfigureAwait(false);
                scope.Summary = Summary(results, usage);
            }
            else
            {
                pumps = choices.Select(c => CollectAsync(c, results[c.Index])).ToArray();
                await Task.WhenAll(pumps).ConfigureAwait(false);
                OpenAiJson.ThrowIfFailed(results.Select(r => (r.Finish, r.Error)), scope.Token);
                var usage = Usage(results);
                var response = new JsonObject
                {
                    ["id"] = scope.Id,
                    ["object"] = "chat.completion",
                    ["created"] = created,
                    ["model"] = model,
                    ["choices"] = new JsonArray(results.Select((r, i) => (JsonNode)ChoiceJson(r, i)).ToArray()),
                    ["usage"] = usage.ToJson(),
                };
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/json";
                ctx.Response.Headers["X-Request-Id"] = scope.Id;
                await ctx.Response.WriteAsync(response.ToJsonString(JsonText.Options), scope.Token).ConfigureAwait(false);
                scope.Summary = Summary(results, usage);
            }
            if (_options.LogPrompts)
                for (int i = 0; i < results.Length; i++)
                    log.LogInformation("{RequestId} choice {Index}: reasoning: {Reasoning} content: {Content}", scope.Id, i, results[i].Reasoning, results[i].Content);
        }
        finally
        {
            if (pumps.Any(p => !p.IsCompleted) || results.Any(r => r.Finish is null)) scope.Cancel.Cancel();
            await ChoiceStream.DisposeAllAsync(choices, pumps).ConfigureAwait(false);
            foreach (var r in results) tokenLimits.Charge(scope.Client, r.Usage?.CompletionTokens ?? 0);
        }
    }

    /// <summary>What one choice produced.</summary>
    sealed class ChoiceResult(bool keepText)
    {
        public readonly bool KeepText = keepText;
        public readonly StringBuilder Content = new(), Reasoning = new();
        public readonly List<ToolCall> Calls = [];
        public List<TokenLogprobInfo>? Logprobs;
        public string? Finish, Error;
        public Usage? Usage;

        /// <summary>finish_reason as OpenAI reports it: tool_calls only when a valid call was returned.</summary>
        public string FinishReason => Finish == "tool_calls" && Calls.Count == 0 ? "stop" : Finish ?? "stop";
    }

    static void Record(ChoiceResult r, ChatUpdate u)
    {
        switch (u.Kind)
        {
            case ChatUpdateKind.Content: if (r.KeepText) r.Content.Append(u.Text); break;
            case ChatUpdateKind.Reasoning: if (r.KeepText) r.Reasoning.Append(u.Text); break;
            case ChatUpdateKind.ToolCall:
                if (u.ToolCall!.IsValid) r.Calls.Add(u.ToolCall);
                else if (r.KeepText) r.Content.Append(OpenAiJson.RawToolCallText(u.ToolCall));
                break;
            case ChatUpdateKind.Finished:
                r.Finish = u.FinishReason;
                r.Error = u.Error;
                r.Usage = u.Usage;
                break;
        }
        if (u.Logprobs != null) (r.Logprobs ??= []).AddRange(u.Logprobs);
    }

    static async Task CollectAsync(ChoiceStream c, ChoiceResult r)
    {
        do Record(r, c.Current);
        while (await c.MoveNextAsync().ConfigureAwait(false));
    }

    JsonObject ChoiceJson(ChoiceResult r, int index)
    {
        var message = new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = r.Content.Length == 0 && r.Calls.Count > 0 ? null : r.Content.ToString(),
        };
        if (r.Reasoning.Length > 0) message["reasoning_content"] = r.Reasoning.ToString();
        if (r.Calls.Count > 0)
            message["tool_calls"] = JsonNode.Parse(OpenAiJson.Serialize(w =>
            {
                w.WriteStartArray();
                foreach (var call in r.Calls) OpenAiJson.WriteToolCall(w, call, null);
                w.WriteEndArray();
            }));
        return new JsonObject
        {
            ["index"] = index,
            ["message"] = message,
            ["logprobs"] = r.Logprobs is null ? null : JsonNode.Parse(OpenAiJson.Serialize(w =>
            {
                w.WriteStartObject();
                OpenAiJson.WriteChatLogprobs(w, r.Logprobs, tokenBytes);
                w.WriteEndObject();
            }))!["logprobs"]!.DeepClone(),
            ["finish_reason"] = r.FinishReason,
        };
    }

    async Task StreamChoiceAsync(ChoiceStream c, ChoiceResult r, SseWriter sse, RequestScope scope, string model, long created, ChatRequest req)
    {
        int callIndex = 0;
        await sse.WriteAsync(w => Chunk(w, scope.Id, created, model, c.Index, req.IncludeUsage, d =>
        {
            d.WriteString("role", "assistant");
            d.WriteString("content", "");
        }, null, null)).ConfigureAwait(false);
        do
        {
            var u = c.Current;
            Record(r, u);
            switch (u.Kind)
            {
                case ChatUpdateKind.Content or ChatUpdateKind.Reasoning:
                    if (string.IsNullOrEmpty(u.Text) && u.Logprobs is null) break;
                    string field = u.Kind == ChatUpdateKind.Content ? "content" : "reasoning_content";
                    await sse.WriteAsync(w => Chunk(w, scope.Id, created, model, c.Index, req.IncludeUsage, d => d.WriteString(field, u.Text ?? ""), u.Logprobs, null)).ConfigureAwait(false);
                    break;
                case ChatUpdateKind.ToolCall:
                    var call = u.ToolCall!;
                    if (call.IsValid)
                    {
                        int k = callIndex++;
                        await sse.WriteAsync(w => Chunk(w, scope.Id, created, model, c.Index, req.IncludeUsage, d =>
                        {
                            d.WriteStartArray("tool_calls");
                            OpenAiJson.WriteToolCall(d, call, k);
                            d.WriteEndArray();
                        }, u.Logprobs, null)).ConfigureAwait(false);
                    }
                    else
                    {
                        await sse.WriteAsync(w => Chunk(w, scope.Id, created, model, c.Index, req.IncludeUsage, d => d.WriteString("content", OpenAiJson.RawToolCallText(call)), u.Logprobs, null)).ConfigureAwait(false);
                    }
                    break;
                case ChatUpdateKind.Finished:
                    if (u.FinishReason == "error")
                    {
                        log.LogError("{RequestId} choice {Index}: generation failed: {Error}", scope.Id, c.Index, u.Error);
                        await sse.WriteAsync(w => w.WriteRawValue(OpenAiErrors.Body($"generation failed (request id {scope.Id})", "server_error", null, null).ToJsonString())).ConfigureAwait(false);
                        break;
                    }
                    if (u.FinishReason == "cancelled")
                    {
                        // The client left (nothing to write), or the shutdown timeout ended the stream: say so.
                        sse.ThrowIfCancelled();
                        await sse.WriteAsync(w => w.WriteRawValue(OpenAiErrors.Body("the server is shutting down; the answer was cut short", "server_error", null, "shutting_down").ToJsonString())).ConfigureAwait(false);
                        break;
                    }
                    await sse.WriteAsync(w => Chunk(w, scope.Id, created, model, c.Index, req.IncludeUsage, _ => { }, null, r.FinishReason)).ConfigureAwait(false);
                    break;
            }
        }
        while (await c.MoveNextAsync().ConfigureAwait(false));
    }

    static void Header(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    void Chunk(Utf8JsonWriter w, string id, long created, string model, int index, bool usageField, Action<Utf8JsonWriter> delta,
        IReadOnlyList<TokenLogprobInfo>? logprobs, string? finish)
    {
        w.WriteStartObject();
        Header(w, id, created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteStartObject("delta");
        delta(w);
        w.WriteEndObject();
        if (logprobs != null) OpenAiJson.WriteChatLogprobs(w, logprobs, tokenBytes);
        else w.WriteNull("logprobs");
        if (finish != null) w.WriteString("finish_reason", finish);
        else w.WriteNull("finish_reason");
        w.WriteEndObject();
        w.WriteEndArray();
        if (usageField) w.WriteNull("usage");
        w.WriteEndObject();
    }

    static OpenAiJson.UsageTotals Usage(ChoiceResult[] results)
    {
        var u = new OpenAiJson.UsageTotals();
        for (int i = 0; i < results.Length; i++)
            if (results[i].Usage is { } x) u.Add(x, i == 0);
        return u;
    }

    static string Summary(ChoiceResult[] results, OpenAiJson.UsageTotals u) =>
        $"n={results.Length} prompt_tokens={u.PromptTokens} cached_tokens={u.CachedPromptTokens} completion_tokens={u.CompletionTokens} finish={string.Join(',', results.Select(r => r.FinishReason))}";
}
