using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using QwenSharp.Generation;

namespace QwenSharp.AI;

/// <summary>
/// A QwenSharp model as a Microsoft.Extensions.AI <see cref="IChatClient"/>, so middleware such as
/// <c>UseFunctionInvocation()</c>, logging, OpenTelemetry and Semantic Kernel work unchanged.
/// Mapping: ChatOptions → sampling (Temperature, TopP, TopK, MaxOutputTokens, Seed, StopSequences,
/// presence/frequency penalties; AdditionalProperties "min_p", "repetition_penalty", "enable_thinking",
/// "thinking_budget"; Reasoning.Effort None turns thinking off, any other effort on); AIFunction tools →
/// template tools; the answer → <see cref="TextReasoningContent"/>, <see cref="TextContent"/>,
/// <see cref="FunctionCallContent"/> and <see cref="UsageContent"/>/<see cref="UsageDetails"/>.
/// </summary>
public sealed class QwenChatClient(Qwen qwen, bool ownsModel = false) : IChatClient
{
    readonly ChatClientMetadata _metadata = new("qwensharp", null, qwen.Name);

    public Qwen Qwen => qwen;

    /// <summary>Adjusts the generation options of every request after ChatOptions were mapped (e.g. a thinking budget, logits processors).</summary>
    public Func<GenerationOptions, GenerationOptions>? ConfigureOptions { get; init; }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false)) updates.Add(u);
        return updates.ToChatResponse();
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var json = ToJsonMessages(messages, options);
        var gen = ToGenerationOptions(options);
        if (ConfigureOptions != null) gen = ConfigureOptions(gen);
        string responseId = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        string messageId = "msg-" + Guid.NewGuid().ToString("N")[..24];
        var created = DateTimeOffset.UtcNow;
        await foreach (var u in qwen.ChatStreamAsync(json, gen, cancellationToken).ConfigureAwait(false))
        {
            var update = new ChatResponseUpdate(ChatRole.Assistant, (string?)null)
            {
                ResponseId = responseId, MessageId = messageId, CreatedAt = created, ModelId = qwen.Name,
            };
            switch (u.Kind)
            {
                case ChatUpdateKind.Reasoning:
                    if (string.IsNullOrEmpty(u.Text)) continue;
                    update.Contents.Add(new TextReasoningContent(u.Text));
                    break;
                case ChatUpdateKind.Content:
                    if (string.IsNullOrEmpty(u.Text)) continue;
                    update.Contents.Add(new TextContent(u.Text));
                    break;
                case ChatUpdateKind.ToolCall:
                    var call = u.ToolCall!;
                    update.Contents.Add(call.IsValid
                        ? new FunctionCallContent(call.Id, call.Name, ParseArguments(call.Arguments))
                        : new FunctionCallContent(call.Id, call.Name) { Exception = new FormatException(call.Error) });
                    break;
                case ChatUpdateKind.Finished:
                    if (u.Error != null) throw new InvalidOperationException($"generation failed: {u.Error}");
                    update.FinishReason = u.FinishReason switch
                    {
                        "length" => ChatFinishReason.Length,
                        "tool_calls" => ChatFinishReason.ToolCalls,
                        _ => ChatFinishReason.Stop,
                    };
                    if (u.Usage is { } usage)
                        update.Contents.Add(new UsageContent(new UsageDetails
                        {
                            InputTokenCount = usage.PromptTokens,
                            OutputTokenCount = usage.CompletionTokens,
                            TotalTokenCount = usage.TotalTokens,
                            CachedInputTokenCount = usage.CachedPromptTokens,
                            ReasoningTokenCount = usage.ReasoningTokens,
                        }));
                    break;
            }
            yield return update;
        }
    }

    static Dictionary<string, object?>? ParseArguments(string json)
    {
        var node = JsonNode.Parse(json) as JsonObject;
        return node?.ToDictionary(kv => kv.Key, kv => (object?)(kv.Value is null ? null : Element(kv.Value.ToJsonString())));
    }

    static JsonElement Element(string json)
    {
        using var d = JsonDocument.Parse(json);
        return d.RootElement.Clone();
    }

    /// <summary>Microsoft.Extensions.AI messages → the OpenAI-style message objects templates take.</summary>
    public static JsonArray ToJsonMessages(IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        var arr = new JsonArray();
        if (options?.Instructions is { Length: > 0 } instructions) arr.Add((JsonNode)ChatMessages.System(instructions));
        foreach (var m in messages)
        {
            string role = m.Role.Value;
            var text = string.Concat(m.Contents.OfType<TextContent>().Select(t => t.Text));
            if (role == ChatRole.Tool.Value || m.Contents.OfType<FunctionResultContent>().Any())
            {
                foreach (var r in m.Contents.OfType<FunctionResultContent>())
                    arr.Add((JsonNode)ChatMessages.Tool(r.CallId, ResultText(r.Result)));
                continue;
            }
            var o = new JsonObject { ["role"] = role, ["content"] = text };
            if (role == ChatRole.Assistant.Value)
            {
                var reasoning = string.Concat(m.Contents.OfType<TextReasoningContent>().Select(t => t.Text));
                if (reasoning.Length > 0) o["reasoning_content"] = reasoning;
                var calls = m.Contents.OfType<FunctionCallContent>().ToList();
                if (calls.Count > 0)
                    o["tool_calls"] = new JsonArray(calls.Select(c => (JsonNode)new JsonObject
                    {
                        ["id"] = c.CallId,
                        ["type"] = "function",
                        ["function"] = new JsonObject
                        {
                            ["name"] = c.Name,
                            ["arguments"] = JsonSerializer.SerializeToNode(c.Arguments ?? new Dictionary<string, object?>(), ToolJson.GetTypeInfo(typeof(object))),
                        },
                    }).ToArray());
            }
            arr.Add((JsonNode)o);
        }
        return arr;
    }

    static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        _ => JsonSerializer.Serialize(result, ToolJson.GetTypeInfo(typeof(object))),
    };

    /// <summary>
    /// For tool-call arguments and tool results, which are arbitrary objects: Microsoft.Extensions.AI's resolver (its
    /// source-generated types, plus reflection for any other type where reflection is available, as under the JIT),
    /// with our default naming and unescaped text. No reflection-only serializer call, so NativeAOT builds compile
    /// this adapter cleanly; there, objects of types outside M.E.AI's own (JSON elements, dictionaries, primitives)
    /// cannot be serialized.
    /// </summary>
    static readonly JsonSerializerOptions ToolJson = new()
    {
        Encoder = JsonText.Options.Encoder,
        TypeInfoResolver = AIJsonUtilities.DefaultOptions.TypeInfoResolver,
    };

    /// <summary>ChatOptions → generation options.</summary>
    public static GenerationOptions ToGenerationOptions(ChatOptions? o)
    {
        if (o is null) return new GenerationOptions();
        var extra = o.AdditionalProperties;
        float? F(string key) => extra != null && extra.TryGetValue(key, out var v) && v != null ? Convert.ToSingle(v is JsonElement je ? je.GetDouble() : v, System.Globalization.CultureInfo.InvariantCulture) : null;
        bool? thinking = extra != null && extra.TryGetValue("enable_thinking", out var t) && t != null ? Convert.ToBoolean(t is JsonElement tj ? tj.GetBoolean() : t) : null;
        if (thinking is null && o.Reasoning?.Effort is { } effort) thinking = effort != ReasoningEffort.None;
        int? budget = extra != null && extra.TryGetValue("thinking_budget", out var b) && b != null ? Convert.ToInt32(b is JsonElement bj ? bj.GetInt32() : b) : null;
        JsonArray? tools = null;
        if (o.Tools is { Count: > 0 } && o.ToolMode is not NoneChatToolMode)
        {
            tools = [];
            foreach (var tool in o.Tools)
            {
                if (tool is not AIFunctionDeclaration f) continue;
                tools.Add((JsonNode)new JsonObject
                {
                    ["type"] = "function",
                    ["function"] = new JsonObject
                    {
                        ["name"] = f.Name,
                        ["description"] = f.Description,
                        ["parameters"] = JsonNode.Parse(f.JsonSchema.GetRawText()),
                    },
                });
            }
        }
        string? toolChoice = o.ToolMode switch
        {
            NoneChatToolMode => "none",
            RequiredChatToolMode { RequiredFunctionName: { } name } => name,
            RequiredChatToolMode => "required",
            _ => null,
        };
        return new GenerationOptions
        {
            Sampling = new SamplingParams
            {
                Temperature = o.Temperature,
                TopP = o.TopP,
                TopK = o.TopK,
                MinP = F("min_p"),
                RepetitionPenalty = F("repetition_penalty"),
                PresencePenalty = o.PresencePenalty,
                FrequencyPenalty = o.FrequencyPenalty,
                Seed = o.Seed,
                MaxTokens = o.MaxOutputTokens,
                Stop = o.StopSequences is { Count: > 0 } s ? s.ToArray() : null,
            },
            EnableThinking = thinking,
            ThinkingBudget = budget,
            Tools = tools,
            ToolChoice = toolChoice,
            ParallelToolCalls = o.AllowMultipleToolCalls ?? true,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(qwen) ? qwen
        : null;

    public void Dispose()
    {
        if (ownsModel) qwen.Dispose();
    }
}
