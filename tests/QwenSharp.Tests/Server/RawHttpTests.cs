using System.Net;
using System.Text.Json.Nodes;

namespace QwenSharp.Tests.Server;

/// <summary>
/// Raw HTTP against the server: what OpenAI clients never send (malformed JSON, wrong types, unknown
/// fields, values out of range, unknown models and routes) is answered in OpenAI's error shape with the
/// right status; the other endpoints (completions, models, tokenize, health, metrics) work.
/// </summary>
[Collection("Server")]
public class RawHttpTests(ScriptedServerFixture fx) : IClassFixture<ScriptedServerFixture>
{
    TestServer S => fx.Server;

    const string Hi = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";

    /// <summary>Checks OpenAI's error shape and returns the error object.</summary>
    static JsonObject Error(int status, JsonObject body, int expectedStatus, string? param = null)
    {
        Assert.Equal(expectedStatus, status);
        var e = Assert.IsType<JsonObject>(body["error"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)e["message"]));
        Assert.False(string.IsNullOrWhiteSpace((string?)e["type"]));
        Assert.True(e.ContainsKey("param") && e.ContainsKey("code"), "error has param and code");
        if (param != null) Assert.Equal(param, (string?)e["param"]);
        Assert.DoesNotContain("   at ", e.ToJsonString()); // never a stack trace
        return e;
    }

    [Theory]
    [InlineData("{\"messages\": [", "invalid_json")]
    [InlineData("not json at all", "invalid_json")]
    [InlineData("[1, 2, 3]", "invalid_json")]
    [InlineData("", "invalid_json")]
    [InlineData("{\"messages\": [], \"messages\": []}", "invalid_json")]
    public async Task MalformedJsonIs400(string body, string code)
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", body);
        var e = Error(status, json, 400);
        Assert.Equal(code, (string?)e["code"]);
        Assert.Equal("invalid_request_error", (string?)e["type"]);
    }

    [Theory]
    [InlineData("{\"messages\": \"Hi\"}", "messages")]
    [InlineData("{" + Hi + ", \"temperature\": \"hot\"}", "temperature")]
    [InlineData("{" + Hi + ", \"n\": 1.5}", "n")]
    [InlineData("{" + Hi + ", \"stream\": \"yes\"}", "stream")]
    [InlineData("{" + Hi + ", \"max_tokens\": [1]}", "max_tokens")]
    [InlineData("{" + Hi + ", \"stop\": [\"a\", 3]}", "stop")]
    [InlineData("{" + Hi + ", \"logit_bias\": {\"abc\": 1}}", "logit_bias")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": 42}]}", "messages")]
    [InlineData("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", "messages")]
    [InlineData("{\"model\": 7, " + Hi + "}", "model")]
    public async Task WrongTypesAre400NamingTheField(string body, string param)
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", body);
        Error(status, json, 400, param);
    }

    [Fact]
    public async Task UnknownFieldsAre400NamingTheField()
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{" + Hi + ", \"temprature\": 0.5}");
        var e = Error(status, json, 400, "temprature");
        Assert.Contains("Unrecognized request argument", (string?)e["message"]);
        (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\", \"mood\": \"happy\"}]}");
        Error(status, json, 400, "messages[0].mood");
        // Fields of the API that change nothing here are accepted.
        (status, _) = await S.PostJsonAsync("/v1/chat/completions", "{" + Hi + ", \"user\": \"u1\", \"store\": false, \"max_tokens\": 1}");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task MissingMessagesIs400()
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{\"model\": \"qwen3-tiny\"}");
        Assert.Equal("missing_required_parameter", (string?)Error(status, json, 400, "messages")["code"]);
        (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{\"messages\": []}");
        Error(status, json, 400, "messages");
    }

    [Theory]
    [InlineData("\"temperature\": -1", "temperature")]
    [InlineData("\"top_p\": 0", "top_p")]
    [InlineData("\"top_logprobs\": 50, \"logprobs\": true", "top_logprobs")]
    [InlineData("\"n\": 100", "n")]
    [InlineData("\"max_tokens\": 0", "max_tokens")]
    [InlineData("\"presence_penalty\": 3", "presence_penalty")]
    [InlineData("\"reasoning_effort\": \"extreme\"", "reasoning_effort")]
    [InlineData("\"response_format\": {\"type\": \"json_object\"}", "response_format")]
    [InlineData("\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"a\"}}], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"b\"}}", "tool_choice")]
    public async Task ValuesOutOfRangeAre422NamingTheField(string field, string param)
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{" + Hi + ", " + field + "}");
        Error(status, json, 422, param);
    }

    [Fact]
    public async Task AnUnknownModelIs404()
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{\"model\": \"gpt-4o\", " + Hi + "}");
        Assert.Equal("model_not_found", (string?)Error(status, json, 404, "model")["code"]);
    }

    [Fact]
    public async Task UnknownRoutesAndMethodsAnswerInOpenAiShape()
    {
        foreach (var path in new[] { "/v1/embeddings", "/v2/chat", "/nothing" })
        {
            using var r = await S.Http.PostAsync(path, new StringContent("{}"));
            Error((int)r.StatusCode, JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject(), 404);
        }
        using var get = await S.Http.GetAsync("/v1/chat/completions");
        Error((int)get.StatusCode, JsonNode.Parse(await get.Content.ReadAsStringAsync())!.AsObject(), 405);
    }

    [Fact]
    public async Task APromptPastTheContextIs400ContextLengthExceeded()
    {
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{" + Hi + ", \"max_tokens\": 5000}");
        Assert.Equal("context_length_exceeded", (string?)Error(status, json, 400)["code"]);
        string longText = string.Concat(Enumerable.Repeat("hello world ", 3000));
        (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"" + longText + "\"}]}");
        Assert.Equal("context_length_exceeded", (string?)Error(status, json, 400)["code"]);
    }

    [Fact]
    public async Task NChoicesWithASeedAreReproducibleAndDiffer()
    {
        fx.Script = null;
        string body = "{" + Hi + ", \"n\": 3, \"seed\": 11, \"temperature\": 1.0, \"max_tokens\": 8, \"ignore_eos\": true}";
        var (status, a) = await S.PostJsonAsync("/v1/chat/completions", body);
        Assert.Equal(200, status);
        var (_, b) = await S.PostJsonAsync("/v1/chat/completions", body);
        var texts = a["choices"]!.AsArray().Select(c => (string)c!["message"]!["content"]!).ToList();
        Assert.Equal(3, texts.Count);
        Assert.Equal(texts, b["choices"]!.AsArray().Select(c => (string)c!["message"]!["content"]!).ToList());
        Assert.True(texts.Distinct().Count() > 1, "n choices should not all be the same sample");
        Assert.Equal([0, 1, 2], a["choices"]!.AsArray().Select(c => (int)c!["index"]!));
        // Usage counts the prompt once and the completions of every choice.
        Assert.Equal(24, (int)a["usage"]!["completion_tokens"]!);
        // Choice i uses seed + i: choice 1 of seed 11 is choice 0 of seed 12.
        var (_, c12) = await S.PostJsonAsync("/v1/chat/completions", body.Replace("\"n\": 3, \"seed\": 11", "\"seed\": 12"));
        Assert.Equal(texts[1], (string)c12["choices"]![0]!["message"]!["content"]!);
    }

    [Fact]
    public async Task StreamingSendsChunksUsageAndDone()
    {
        fx.Script = _ => S.Script("<think>\nHm.\n</think>\n\nYes.");
        using var r = await S.PostAsync("/v1/chat/completions", "{" + Hi + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.StartsWith("text/event-stream", r.Content.Headers.ContentType!.ToString());
        var (events, done) = await Sse.ReadAsync(r);
        Assert.True(done);
        Assert.Equal("assistant", (string?)events[0]["choices"]![0]!["delta"]!["role"]);
        Assert.Equal("Hm.", Sse.Content(events, field: "reasoning_content"));
        Assert.Equal("Yes.", Sse.Content(events));
        Assert.Equal("stop", events.Select(e => (string?)e["choices"]!.AsArray().FirstOrDefault()?["finish_reason"]).Last(f => f != null));
        var last = events[^1];
        Assert.Empty(last["choices"]!.AsArray());
        Assert.Equal(S.Script("<think>\nHm.\n</think>\n\nYes.").Length, (int)last["usage"]!["completion_tokens"]!);
        Assert.All(events.SkipLast(1), e => Assert.True(e.ContainsKey("usage") && e["usage"] is null));
        Assert.All(events, e => Assert.Equal((string?)events[0]["id"], (string?)e["id"]));
    }

    [Fact]
    public async Task ChatTemplateKwargsPerRequestChangeThePrompt()
    {
        fx.Script = _ => S.Script("ok");
        async Task<int> PromptTokens(string extra)
        {
            var (status, json) = await S.PostJsonAsync("/v1/chat/completions", "{" + Hi + extra + "}");
            Assert.Equal(200, status);
            return (int)json["usage"]!["prompt_tokens"]!;
        }
        int thinking = await PromptTokens("");
        int off = await PromptTokens(", \"chat_template_kwargs\": {\"enable_thinking\": false}");
        int effortNone = await PromptTokens(", \"reasoning_effort\": \"none\"");
        // Qwen3's template writes an empty think block when thinking is off.
        Assert.True(off > thinking, $"{off} > {thinking}");
        Assert.Equal(off, effortNone);
        // /tokenize renders the same prompt.
        var (_, tok) = await S.PostJsonAsync("/tokenize", "{" + Hi + ", \"chat_template_kwargs\": {\"enable_thinking\": false}}");
        Assert.Equal(off, (int)tok["count"]!);
    }

    [Fact]
    public async Task ConversationsWithToolResultsAndReasoningAreAccepted()
    {
        fx.Script = _ => S.Script("Done.");
        string body = """
        {"messages": [
          {"role": "developer", "content": "Be brief."},
          {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
          {"role": "assistant", "content": null, "reasoning_content": "Need the tool.",
           "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
          {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}],
         "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
         "parallel_tool_calls": false}
        """;
        var (status, json) = await S.PostJsonAsync("/v1/chat/completions", body);
        Assert.Equal(200, status);
        Assert.Equal("Done.", (string?)json["choices"]![0]!["message"]!["content"]);
        // The rendered prompt holds the tool call and its result.
        var (_, tok) = await S.PostJsonAsync("/tokenize", body.Replace("\"parallel_tool_calls\": false", "\"return_token_strs\": false"));
        string prompt = S.Qwen.Tokenizer.Decode(tok["tokens"]!.AsArray().Select(t => (int)t!).ToArray());
        Assert.Contains("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}", prompt);
        Assert.Contains("<tool_response>\nSunny\n</tool_response>", prompt);
        Assert.Contains("Be brief.", prompt);
    }

    [Fact]
    public async Task TextCompletionsTakeStringsAndTokenIds()
    {
        fx.Script = null;
        var (status, json) = await S.PostJsonAsync("/v1/completions", "{\"prompt\": \"Once upon\", \"max_tokens\": 5, \"seed\": 3, \"echo\": true}");
        Assert.Equal(200, status);
        Assert.Equal("text_completion", (string?)json["object"]);
        var choice = json["choices"]![0]!;
        Assert.StartsWith("Once upon", (string)choice["text"]!);
        Assert.Equal("length", (string?)choice["finish_reason"]);
        int promptTokens = (int)json["usage"]!["prompt_tokens"]!;
        Assert.Equal(S.Qwen.Tokenizer.Encode("Once upon").Length, promptTokens);

        // The same prompt as token ids gives the same continuation.
        string ids = "[" + string.Join(",", S.Qwen.Tokenizer.Encode("Once upon")) + "]";
        var (_, byIds) = await S.PostJsonAsync("/v1/completions", "{\"prompt\": " + ids + ", \"max_tokens\": 5, \"seed\": 3}");
        Assert.Equal((string)choice["text"]!, "Once upon" + (string)byIds["choices"]![0]!["text"]!);

        // Two prompts × n=2, legacy logprobs.
        var (_, many) = await S.PostJsonAsync("/v1/completions", "{\"prompt\": [\"a\", \"b\"], \"n\": 2, \"max_tokens\": 3, \"logprobs\": 2}");
        var choices = many["choices"]!.AsArray();
        Assert.Equal(4, choices.Count);
        foreach (var c in choices)
        {
            var lp = c!["logprobs"]!;
            Assert.Equal(3, lp["tokens"]!.AsArray().Count);
            Assert.Equal(3, lp["token_logprobs"]!.AsArray().Count);
            Assert.All(lp["top_logprobs"]!.AsArray(), t => Assert.InRange(t!.AsObject().Count, 1, 2));
            Assert.Equal(0, (int)lp["text_offset"]![0]!);
        }
    }

    [Fact]
    public async Task StreamedCompletionsMatchTheWholeAnswer()
    {
        fx.Script = null;
        string body = "{\"prompt\": \"Hello\", \"max_tokens\": 6, \"seed\": 5, \"temperature\": 0.9}";
        var (_, whole) = await S.PostJsonAsync("/v1/completions", body);
        using var r = await S.PostAsync("/v1/completions", body.Replace("}", ", \"stream\": true}"));
        var (events, done) = await Sse.ReadAsync(r);
        Assert.True(done);
        Assert.Equal((string)whole["choices"]![0]!["text"]!, Sse.Content(events));
    }

    [Fact]
    public async Task TokenizeAndDetokenizeRoundTrip()
    {
        var (status, tok) = await S.PostJsonAsync("/tokenize", "{\"prompt\": \"Hello <|im_end|> world\", \"return_token_strs\": true}");
        Assert.Equal(200, status);
        var ids = tok["tokens"]!.AsArray().Select(t => (int)t!).ToArray();
        Assert.Equal(S.Qwen.Tokenizer.Encode("Hello <|im_end|> world", parseSpecialTokens: true), ids);
        Assert.Equal(ids.Length, (int)tok["count"]!);
        Assert.Equal(4096, (int)tok["max_model_len"]!);
        Assert.Contains("<|im_end|>", tok["token_strs"]!.AsArray().Select(t => (string)t!));
        var (_, detok) = await S.PostJsonAsync("/detokenize", "{\"tokens\": [" + string.Join(",", ids) + "]}");
        Assert.Equal("Hello <|im_end|> world", (string?)detok["prompt"]);
        var (bad, err) = await S.PostJsonAsync("/detokenize", "{\"tokens\": [99999]}");
        Error(bad, err, 422, "tokens");
    }

    [Fact]
    public async Task ModelsHealthAndReady()
    {
        var models = JsonNode.Parse(await S.Http.GetStringAsync("/v1/models"))!;
        Assert.Equal("list", (string?)models["object"]);
        var m = models["data"]![0]!;
        Assert.Equal("qwen3-tiny", (string?)m["id"]);
        Assert.Equal("model", (string?)m["object"]);
        Assert.Equal(4096, (int)m["max_model_len"]!);
        Assert.Equal("qwen3-tiny", (string?)JsonNode.Parse(await S.Http.GetStringAsync("/v1/models/qwen3-tiny"))!["id"]);
        using var missing = await S.Http.GetAsync("/v1/models/other");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("ok", (string?)JsonNode.Parse(await S.Http.GetStringAsync("/health"))!["status"]);
        Assert.Equal("ready", (string?)JsonNode.Parse(await S.Http.GetStringAsync("/ready"))!["status"]);
    }

    [Fact]
    public async Task SharedPrefixesReuseCachedKvBlocks()
    {
        fx.Script = _ => S.Script("ok");
        string system = string.Concat(Enumerable.Repeat("You are a careful assistant. ", 20));
        string Body(string q) => "{\"messages\": [{\"role\": \"system\", \"content\": \"" + system + "\"}, {\"role\": \"user\", \"content\": \"" + q + "\"}]}";
        var (_, first) = await S.PostJsonAsync("/v1/chat/completions", Body("First question?"));
        var (_, second) = await S.PostJsonAsync("/v1/chat/completions", Body("Another one?"));
        int cached = (int)second["usage"]!["prompt_tokens_details"]!["cached_tokens"]!;
        int prompt = (int)second["usage"]!["prompt_tokens"]!;
        Assert.Equal(0, (int)first["usage"]!["prompt_tokens_details"]!["cached_tokens"]! % 16); // whole blocks only
        Assert.True(cached >= 100 && cached < prompt, $"cached {cached} of {prompt}");
        string metrics = await S.Http.GetStringAsync("/metrics");
        Assert.True(MetricValue(metrics, "vllm:prefix_cache_hits_total") >= cached);
    }

    [Fact]
    public async Task MetricsExposeOpenTelemetryAndVllmNames()
    {
        fx.Script = null;
        await S.PostJsonAsync("/v1/chat/completions", "{" + Hi + ", \"max_tokens\": 3}");
        await S.PostJsonAsync("/v1/chat/completions", "{bad json");
        using var r = await S.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.StartsWith("text/plain", r.Content.Headers.ContentType!.ToString());
        string text = await r.Content.ReadAsStringAsync();
        foreach (var name in new[]
        {
            "vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
            "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
            "qwensharp_engine_queued_requests", "qwensharp_engine_running_sequences", "qwensharp_engine_kv_cache_usage",
            "qwensharp_engine_prompt_tokens_total", "qwensharp_engine_completion_tokens_total", "qwensharp_engine_prefix_cache_hit_tokens_total",
        })
            Assert.True(MetricValue(text, name) >= 0, name);
        Assert.Contains("# TYPE vllm:num_requests_waiting gauge", text);
        Assert.Contains("vllm:num_requests_running{model_name=\"qwen3-tiny\"}", text);
        Assert.Contains("qwensharp_server_time_to_first_token_seconds_bucket", text);
        Assert.Contains("qwensharp_server_inter_token_latency_seconds_bucket", text);
        Assert.Matches("qwensharp_server_requests_total\\{[^}]*endpoint=\"chat.completions\"[^}]*status=\"200\"[^}]*\\} [1-9]", text);
        Assert.Matches("qwensharp_server_errors_total\\{[^}]*status=\"400\"[^}]*\\} [1-9]", text);
        Assert.True(MetricValue(text, "qwensharp_engine_completion_tokens_total") >= 3);
        // Idle: nothing waits or runs, and no KV block is held by a sequence.
        Assert.Equal(0, MetricValue(text, "vllm:num_requests_waiting"));
        Assert.Equal(0, MetricValue(text, "vllm:num_requests_running"));
        Assert.Equal(0, MetricValue(text, "vllm:kv_cache_usage_perc"));
    }

    /// <summary>The value of the first sample of a metric (any labels); -1 when absent.</summary>
    internal static double MetricValue(string text, string name)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal)) continue;
            string rest = line[name.Length..];
            if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' ')) continue;
            return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return -1;
    }
}
