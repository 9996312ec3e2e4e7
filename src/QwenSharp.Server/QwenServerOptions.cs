using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Server;

/// <summary>
/// Settings of the OpenAI-compatible endpoints (<c>AddQwenSharp</c>). Safe defaults: no unknown request
/// fields, a 8 MiB body limit, no prompt or completion text in the logs, and (in the standalone host)
/// loopback only unless API keys are set.
/// </summary>
public sealed class QwenServerOptions
{
    /// <summary>The name clients pass as <c>model</c> and /v1/models lists (default: the model's folder or file name).</summary>
    public string? ModelName { get; set; }

    /// <summary>Other names accepted for the base model in a request's <c>model</c> field.</summary>
    public IList<string> ModelAliases { get; } = [];

    /// <summary>
    /// LoRA adapters served beside the base model: a request selects one with <c>"model": "BASE:ADAPTER"</c>
    /// (or the adapter name alone) and it reaches the engine as <see cref="GenerationOptions.Adapter"/>.
    /// </summary>
    public IList<string> Adapters { get; } = [];

    /// <summary>Accepted bearer keys. Empty: no authentication (the standalone host then binds loopback only).</summary>
    public IList<string> ApiKeys { get; } = [];

    /// <summary>Let the standalone host bind a non-loopback address without API keys.</summary>
    public bool AllowInsecure { get; set; }

    /// <summary>Require an API key for GET /metrics too (default: open, as Prometheus scrapers expect).</summary>
    public bool MetricsRequireKey { get; set; }

    /// <summary>Write prompts and completions to the log (Information level). Off by default.</summary>
    public bool LogPrompts { get; set; }

    /// <summary>Requests per minute allowed to each API key (each client address when no keys are set); null: no limit.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Prompt plus completion tokens per minute allowed to each API key; null: no limit.</summary>
    public int? TokensPerMinute { get; set; }

    /// <summary>Largest request body in bytes (413 above it).</summary>
    public long MaxBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Longest prompt in tokens (null: the KV cache's limit).</summary>
    public int? MaxPromptTokens { get; set; }

    /// <summary>Largest max_tokens a request may ask for; also the default when it asks for none (null: until the context is full).</summary>
    public int? MaxTokensCap { get; set; }

    /// <summary>Most sequences one request may start (n × prompts).</summary>
    public int MaxSequencesPerRequest { get; set; } = 16;

    /// <summary>chat_template_kwargs applied to every chat request (a request's own kwargs win), e.g. {"enable_thinking": false}.</summary>
    public IDictionary<string, JsonNode?> DefaultTemplateKwargs { get; } = new Dictionary<string, JsonNode?>();

    /// <summary>Answer 400 to request fields that are not part of the API (OpenAI's behaviour); false ignores them (vLLM's).</summary>
    public bool RejectUnknownFields { get; set; } = true;

    /// <summary>Run a short generation at start; /ready answers 503 until it is done.</summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>On shutdown, in-flight requests get this long to finish before they are cancelled.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Seconds clients are told to wait (Retry-After) when the engine's queue is full.</summary>
    public int OverloadRetryAfterSeconds { get; set; } = 1;

    /// <summary>Adjusts the generation options of every chat choice after the request was read (logits processors, tests).</summary>
    public Func<GenerationOptions, GenerationOptions>? ConfigureGeneration { get; set; }

    /// <summary>Adjusts the sampling of every text-completion choice after the request was read.</summary>
    public Func<SamplingParams, SamplingParams>? ConfigureCompletionSampling { get; set; }
}
