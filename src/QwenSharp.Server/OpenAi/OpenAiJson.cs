using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Server.OpenAi;

/// <summary>The pieces of OpenAI's response JSON shared by the endpoints: usage, logprobs, tool calls.</summary>
public static class OpenAiJson
{
    /// <summary>A whole (non-streamed) answer is sent only when every choice finished: an error or a cancellation wins.</summary>
    public static void ThrowIfFailed(IEnumerable<(string? Finish, string? Error)> choices, CancellationToken token)
    {
        var failed = choices.FirstOrDefault(r => r.Finish is "error" or "cancelled");
        if (failed.Finish == "error") throw new InvalidOperationException("generation failed: " + failed.Error);
        if (failed.Finish == "cancelled") throw new OperationCanceledException(token);
    }

    /// <summary>Token counts summed over a request's choices (the prompt counted once, as OpenAI does).</summary>
    public sealed class UsageTotals
    {
        public int PromptTokens, CompletionTokens, CachedPromptTokens, ReasoningTokens;

        public void Add(Usage u, bool first)
        {
            if (first) { PromptTokens = u.PromptTokens; CachedPromptTokens = u.CachedPromptTokens; }
            CompletionTokens += u.CompletionTokens;
            ReasoningTokens += u.ReasoningTokens;
        }

        public void Write(Utf8JsonWriter w, string name = "usage")
        {
            w.WriteStartObject(name);
            w.WriteNumber("prompt_tokens", PromptTokens);
            w.WriteNumber("completion_tokens", CompletionTokens);
            w.WriteNumber("total_tokens", PromptTokens + CompletionTokens);
            w.WriteStartObject("prompt_tokens_details");
            w.WriteNumber("cached_tokens", CachedPromptTokens);
            w.WriteEndObject();
            w.WriteStartObject("completion_tokens_details");
            w.WriteNumber("reasoning_tokens", ReasoningTokens);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        public JsonObject ToJson() => new()
        {
            ["prompt_tokens"] = PromptTokens,
            ["completion_tokens"] = CompletionTokens,
            ["total_tokens"] = PromptTokens + CompletionTokens,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = CachedPromptTokens },
            ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = ReasoningTokens },
        };
    }

    /// <summary>Chat logprobs entries: {"token", "logprob", "bytes", "top_logprobs": [...]}.</summary>
    public static void WriteChatLogprobs(Utf8JsonWriter w, IReadOnlyList<TokenLogprobInfo> infos, TokenBytes bytes)
    {
        w.WriteStartObject("logprobs");
        w.WriteStartArray("content");
        foreach (var t in infos)
        {
            w.WriteStartObject();
            WriteTokenFields(w, t.TokenId, t.Token, t.Logprob, bytes);
            w.WriteStartArray("top_logprobs");
            foreach (var (id, token, lp) in t.Top)
            {
                w.WriteStartObject();
                WriteTokenFields(w, id, token, lp, bytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static void WriteTokenFields(Utf8JsonWriter w, int id, string token, float logprob, TokenBytes bytes)
    {
        w.WriteString("token", token);
        WriteLogprob(w, "logprob", logprob);
        w.WriteStartArray("bytes");
        foreach (var b in bytes.Of(id)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    /// <summary>A log-probability; -inf (a token that could not be chosen) is written as -9999.0, as OpenAI does.</summary>
    public static void WriteLogprob(Utf8JsonWriter w, string name, float logprob) =>
        w.WriteNumber(name, float.IsFinite(logprob) ? logprob : -9999f);

    public static float Finite(float logprob) => float.IsFinite(logprob) ? logprob : -9999f;

    /// <summary>One tool call as OpenAI writes it (arguments as a JSON string).</summary>
    public static void WriteToolCall(Utf8JsonWriter w, ToolCall call, int? index)
    {
        w.WriteStartObject();
        if (index is int i) w.WriteNumber("index", i);
        w.WriteString("id", call.Id);
        w.WriteString("type", "function");
        w.WriteStartObject("function");
        w.WriteString("name", call.Name);
        w.WriteString("arguments", call.Arguments);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The text of a tool call the model wrote but that could not be parsed: returned as content, as vLLM does.</summary>
    public static string RawToolCallText(ToolCall call) => "<tool_call>" + call.Arguments + "</tool_call>";

    /// <summary>Writes a JSON object to a string with the relaxed escaping clients expect.</summary>
    public static string Serialize(Action<Utf8JsonWriter> build)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            build(w);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
