using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using QwenSharp.Engine;
using QwenSharp.Generation;
using QwenSharp.Server.Metrics;
using QwenSharp.Server.Security;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// POST /v1/completions (OpenAI's legacy text completions): raw prompts, no chat template. A prompt may be
/// a string, a list of strings, a list of token ids or a list of such lists; each prompt × n is one
/// sequence in the engine's batch. Special-token text in a string prompt is parsed, as transformers does.
/// </summary>
public sealed class CompletionsHandler(Qwen qwen, ServedModels models, IOptions<QwenServerOptions> options, ServerMetrics metrics,
    TokenRateLimiter tokenLimits, ILogger<CompletionsHandler> log)
{
    readonly QwenServerOptions _options = options.Value;

    sealed class Request
    {
        public required List<int[]> Prompts;
        public required SamplingParams Sampling;
        public bool MaxTokensRequested, Stream, IncludeUsage, Echo;
        public int N = 1;
        public int? Logprobs;
        public string? Model;
        public string? Adapter;
    }

    Request Parse(JsonObject body)
    {
        var f = new RequestFields(body);
        string? model = f.String("model");
        string? adapter = models.Resolve(model);
        var prompts = ReadPrompts(f.Raw("prompt") ?? throw OpenAiException.BadRequest("'prompt' is required", "prompt", "missing_required_parameter"));
        var sampling = SamplingFields.Read(f, qwen.Model.Config.VocabSize);
        int? maxTokens = SamplingFields.MaxTokens(f, _options, chat: false);
        int? logprobs = f.Int("logprobs");
        if (logprobs is < 0 or > 20) throw OpenAiException.Unprocessable($"'logprobs' must be between 0 and 20 (got {logprobs})", "logprobs");
        bool echo = f.Bool("echo") ?? false;
        if (echo && logprobs != null) throw OpenAiException.Unprocessable("'echo' with 'logprobs' (prompt log-probabilities) is not supported by this server", "echo");
        if (f.String("suffix") is { Length: > 0 }) throw OpenAiException.Unprocessable("'suffix' (insertion) is not supported by this server", "suffix");
        int n = f.Int("n") ?? 1;
        int? bestOf = f.Int("best_of");
        if (bestOf != null && bestOf != n) throw OpenAiException.Unprocessable("'best_of' other than n is not supported by this server", "best_of");
        if (n < 1 || (long)n * prompts.Count > _options.MaxSequencesPerRequest)
            throw OpenAiException.Unprocessable($"n × prompts must be between 1 and {_options.MaxSequencesPerRequest} (got {n} × {prompts.Count})", "n");
        // OpenAI's default for text completions is 16 tokens.
        sampling = sampling with { MaxTokens = maxTokens ?? Math.Min(16, _options.MaxTokensCap ?? 16), Logprobs = logprobs != null, TopLogprobs = logprobs ?? 0 };
        SamplingFields.Validate(sampling);
        bool stream = f.Bool("stream") ?? false;
        bool includeUsage = false;
        if (f.Nested("stream_options") is { } so)
        {
            if (!stream) throw OpenAiException.BadRequest("'stream_options' is only allowed when 'stream' is true", "stream_options");
            includeUsage = so.Bool("include_usage") ?? false;
            if (_options.RejectUnknownFields) so.RejectUnknown();
        }
        f.Accept("user", "metadata", "store", "service_tier", "safety_identifier");
        if (_options.RejectUnknownFields) f.RejectUnknown();
        return new Request
        {
            Prompts = prompts, Sampling = sampling, MaxTokensRequested = maxTokens != null, Stream = stream, IncludeUsage = includeUsage,
            Echo = echo, N = n, Logprobs = logprobs, Model = model, Adapter = adapter,
        };
    }

    List<int[]> ReadPrompts(JsonNode prompt)
    {
        var tokenizer = qwen.Tokenizer;
        int[] Text(string s)
        {
            var ids = tokenizer.Encode(s, parseSpecialTokens: true);
            return ids.Length > 0 ? ids : throw OpenAiException.BadRequest("'prompt' is empty", "prompt");
        }
        int vocab = qwen.Model.Config.VocabSize;
        int[] Ids(JsonArray a, string name)
        {
            var ids = RequestFields.ReadInts(a, name);
            if (ids.Count == 0) throw OpenAiException.BadRequest($"'{name}' is empty", "prompt");
            foreach (var t in ids)
                if (t < 0 || t >= vocab) throw OpenAiException.Unprocessable($"'{name}': token id {t} is outside the vocabulary (0..{vocab - 1})", "prompt");
            return [.. ids];
        }
        switch (prompt)
        {
            case JsonValue v when v.GetValueKind() == JsonValueKind.String: return [Text(v.GetValue<string>())];
            case JsonArray { Count: 0 }: throw OpenAiException.BadRequest("'prompt' is empty", "prompt");
            case JsonArray a when a[0]?.GetValueKind() == JsonValueKind.Number: return [Ids(a, "prompt")];
            case JsonArray a:
                var list = new List<int[]>(a.Count);
                for (int i = 0; i < a.Count; i++)
                {
                    list.Add(a[i] switch
                    {
                        JsonValue s when s.GetValueKind() == JsonValueKind.String => Text(s.GetValue<string>()),
                        JsonArray ids => Ids(ids, $"prompt[{i}]"),
                        _ => throw OpenAiException.BadRequest($"'prompt[{i}]' must be a string or an array of token ids", "prompt", "invalid_type"),
                    });
                }
                return list;
            default: throw OpenAiException.BadRequest("'prompt' must be a string, an array of strings, or token ids", "prompt", "invalid_type");
        }
    }

    public async Task HandleAsync(RequestScope scope)
    {
        var ctx = scope.Http;
        var req = Parse(await RequestBody.ReadObjectAsync(ctx, _options.MaxBodyBytes).ConfigureAwait(false));
        var samplings = new SamplingParams[req.Prompts.Count];
        for (int p = 0; p < req.Prompts.Count; p++)
            samplings[p] = Limits.CheckPrompt(req.Prompts[p].Length, req.Sampling, req.MaxTokensRequested, _options, models.MaxModelLength, "prompt");
        tokenLimits.Admit(scope.Client, req.Prompts.Sum(p => p.Length));
        if (_options.LogPrompts)
            for (int p = 0; p < req.Prompts.Count; p++) log.LogInformation("{RequestId} prompt {Index}: {Prompt}", scope.Id, p, qwen.Tokenizer.Decode(req.Prompts[p]));

        int total = req.Prompts.Count * req.N;
        var choices = new ChoiceStream[total];
        for (int p = 0; p < req.Prompts.Count; p++)
            for (int i = 0; i < req.N; i++)
            {
                var s = samplings[p];
                if (s.Seed is long seed && i > 0) s = s with { Seed = seed + i };
                if (_options.ConfigureCompletionSampling != null) s = _options.ConfigureCompletionSampling(s);
                int index = p * req.N + i;
                choices[index] = new ChoiceStream(index, Generate(req.Prompts[p], s, req.Adapter, scope.Token), scope.Token, scope.Start, metrics);
            }
        await ChoiceStream.StartAllAsync(choices, scope.Cancel, _options.OverloadRetryAfterSeconds).ConfigureAwait(false);

        string model = req.Model ?? models.Name;
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var results = new Result[total];
        for (int k = 0; k < total; k++)
            results[k] = new Result { Prefix = req.Echo ? qwen.Tokenizer.Decode(req.Prompts[k / req.N]) : "" };
        Task[] pumps = [];
        try
        {
            if (req.Stream)
            {
                using var sse = new SseWriter(ctx, ctx.RequestAborted);
                await sse.StartAsync(scope.Id).ConfigureAwait(false);
                pumps = choices.Select(c => StreamAsync(c, results[c.Index], sse, scope.Id, created, model, req)).ToArray();
                await Task.WhenAll(pumps).ConfigureAwait(false);
                var usage = Usage(results, req.N);
                if (req.IncludeUsage) await sse.WriteUsageAsync(w => Header(w, scope.Id, created, model), usage).ConfigureAwait(false);
                await sse.DoneAsync().ConfigureAwait(false);
                scope.Summary = Summary(results, usage);
            }
            else
            {
                pumps = choices.Select(c => CollectAsync(c, results[c.Index])).ToArray();
                await Task.WhenAll(pumps).ConfigureAwait(false);
                OpenAiJson.ThrowIfFailed(results.Select(r => (r.Finish, r.Error)), scope.Token);
                var usage = Usage(results, req.N);
                string json = OpenAiJson.Serialize(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("id", scope.Id);
                    w.WriteString("object", "text_completion");
                    w.WriteNumber("created", created);
                    w.WriteString("model", model);
                    w.WriteStartArray("choices");
                    for (int k = 0; k < results.Length; k++)
                    {
                        var r = results[k];
                        w.WriteStartObject();
                        w.WriteNumber("index", k);
                        w.WriteString("text", r.Prefix + r.Text);
                        if (req.Logprobs != null) WriteLogprobs(w, r.Logprobs, r.Prefix.Length);
                        else w.WriteNull("logprobs");
                        w.WriteString("finish_reason", r.Finish);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    usage.Write(w);
                    w.WriteEndObject();
                });
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/json";
                ctx.Response.Headers["X-Request-Id"] = scope.Id;
                await ctx.Response.WriteAsync(json, scope.Token).ConfigureAwait(false);
                scope.Summary = Summary(results, usage);
            }
            if (_options.LogPrompts)
                for (int k = 0; k < results.Length; k++) log.LogInformation("{RequestId} choice {Index}: {Text}", scope.Id, k, results[k].Text.ToString());
        }
        finally
        {
            if (pumps.Any(p => !p.IsCompleted) || results.Any(r => r.Finish is null)) scope.Cancel.Cancel();
            await ChoiceStream.DisposeAllAsync(choices, pumps).ConfigureAwait(false);
            foreach (var r in results) tokenLimits.Charge(scope.Client, r.Usage?.CompletionTokens ?? 0);
        }
    }

    /// <summary>The engine's events for one raw prompt as chat-style updates (text, then Finished).</summary>
    async IAsyncEnumerable<ChatUpdate> Generate(int[] prompt, SamplingParams sampling, string? adapter, [EnumeratorCancellation] CancellationToken ct)
    {
        var request = qwen.BuildRequest(prompt, new GenerationOptions { Sampling = sampling, Adapter = adapter }, false);
        bool wantLogprobs = sampling.Logprobs || sampling.TopLogprobs > 0;
        await foreach (var e in qwen.Engine.GenerateAsync(request, ct).ConfigureAwait(false))
        {
            if (e.Finish is { } f)
            {
                if (e.Text.Length > 0) yield return new ChatUpdate { Kind = ChatUpdateKind.Content, Text = e.Text };
                yield return new ChatUpdate
                {
                    Kind = ChatUpdateKind.Finished, Error = e.Error?.Message,
                    FinishReason = f switch { FinishReason.Length => "length", FinishReason.Cancelled => "cancelled", FinishReason.Error => "error", _ => "stop" },
                    Usage = new Usage(e.PromptTokens, e.CompletionTokens, e.CachedPromptTokens),
                };
                yield break;
            }
            TokenLogprobInfo[]? info = wantLogprobs
                ? [new TokenLogprobInfo(e.TokenId, qwen.Tokenizer.Decode([e.TokenId]), e.Logprob,
                    (e.TopLogprobs ?? []).Select(t => (t.TokenId, qwen.Tokenizer.Decode([t.TokenId]), t.Logprob)).ToList())]
                : null;
            yield return new ChatUpdate { Kind = ChatUpdateKind.Content, Text = e.Text, TokenIds = [e.TokenId], Logprobs = info };
        }
    }

    sealed class Result
    {
        public string Prefix = "";
        public readonly StringBuilder Text = new();
        public readonly List<TokenLogprobInfo> Logprobs = [];
        public string? Finish, Error;
        public Usage? Usage;
        public int Offset; // characters streamed so far (for text_offset)
    }

    static void Record(Result r, ChatUpdate u)
    {
        if (u.Kind == ChatUpdateKind.Finished) { r.Finish = u.FinishReason; r.Error = u.Error; r.Usage = u.Usage; }
        else r.Text.Append(u.Text);
        if (u.Logprobs != null) r.Logprobs.AddRange(u.Logprobs);
    }

    static async Task CollectAsync(ChoiceStream c, Result r)
    {
        do Record(r, c.Current);
        while (await c.MoveNextAsync().ConfigureAwait(false));
    }

    async Task StreamAsync(ChoiceStream c, Result r, SseWriter sse, string id, long created, string model, Request req)
    {
        bool logprobs = req.Logprobs != null;
        if (r.Prefix.Length > 0)
        {
            await sse.WriteAsync(w => Chunk(w, id, created, model, c.Index, r.Prefix, null, 0, null, req.IncludeUsage)).ConfigureAwait(false);
            r.Offset = r.Prefix.Length;
        }
        do
        {
            var u = c.Current;
            Record(r, u);
            if (u.Kind != ChatUpdateKind.Finished)
            {
                if (string.IsNullOrEmpty(u.Text) && u.Logprobs is null) continue;
                int offset = r.Offset;
                r.Offset += (u.Logprobs ?? []).Sum(t => t.Token.Length);
                await sse.WriteAsync(w => Chunk(w, id, created, model, c.Index, u.Text ?? "", logprobs ? u.Logprobs ?? [] : null, offset, null, req.IncludeUsage)).ConfigureAwait(false);
                continue;
            }
            switch (u.FinishReason)
            {
                case "error":
                    log.LogError("{RequestId} choice {Index}: generation failed: {Error}", id, c.Index, u.Error);
                    await sse.WriteAsync(w => w.WriteRawValue(OpenAiErrors.Body($"generation failed (request id {id})", "server_error", null, null).ToJsonString())).ConfigureAwait(false);
                    break;
                case "cancelled":
                    sse.ThrowIfCancelled();
                    await sse.WriteAsync(w => w.WriteRawValue(OpenAiErrors.Body("the server is shutting down; the answer was cut short", "server_error", null, "shutting_down").ToJsonString())).ConfigureAwait(false);
                    break;
                default:
                    await sse.WriteAsync(w => Chunk(w, id, created, model, c.Index, "", null, 0, u.FinishReason, req.IncludeUsage)).ConfigureAwait(false);
                    break;
            }
        }
        while (await c.MoveNextAsync().ConfigureAwait(false));
    }

    static void Chunk(Utf8JsonWriter w, string id, long created, string model, int index, string text, IReadOnlyList<TokenLogprobInfo>? logprobs, int offset, string? finish, bool usageField)
    {
        w.WriteStartObject();
        Header(w, id, created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteString("text", text);
        if (logprobs != null) WriteLogprobs(w, logprobs, offset);
        else w.WriteNull("logprobs");
        if (finish != null) w.WriteString("finish_reason", finish);
        else w.WriteNull("finish_reason");
        w.WriteEndObject();
        w.WriteEndArray();
        if (usageField) w.WriteNull("usage");
        w.WriteEndObject();
    }

    /// <summary>Legacy logprobs: {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}.</summary>
    static void WriteLogprobs(Utf8JsonWriter w, IReadOnlyList<TokenLogprobInfo> infos, int offset)
    {
        w.WriteStartObject("logprobs");
        w.WriteStartArray("tokens");
        foreach (var t in infos) w.WriteStringValue(t.Token);
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        foreach (var t in infos) w.WriteNumberValue(OpenAiJson.Finite(t.Logprob));
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        foreach (var t in infos)
        {
            w.WriteStartObject();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (_, token, lp) in t.Top)
                if (seen.Add(token)) w.WriteNumber(token, OpenAiJson.Finite(lp));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        foreach (var t in infos)
        {
            w.WriteNumberValue(offset);
            offset += t.Token.Length;
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static void Header(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteString("id", id);
        w.WriteString("object", "text_completion");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    static OpenAiJson.UsageTotals Usage(Result[] results, int n)
    {
        var u = new OpenAiJson.UsageTotals();
        for (int k = 0; k < results.Length; k++)
            if (results[k].Usage is { } x)
            {
                // Each prompt's tokens count once, however many choices it has.
                if (k % n == 0) { u.PromptTokens += x.PromptTokens; u.CachedPromptTokens += x.CachedPromptTokens; }
                u.CompletionTokens += x.CompletionTokens;
            }
        return u;
    }

    static string Summary(Result[] results, OpenAiJson.UsageTotals u) =>
        $"choices={results.Length} prompt_tokens={u.PromptTokens} cached_tokens={u.CachedPromptTokens} completion_tokens={u.CompletionTokens} finish={string.Join(',', results.Select(r => r.Finish))}";
}
