using System.Text.Json.Nodes;

namespace QwenSharp.Generation;

/// <summary>How the model should answer one chat request: sampling plus the Qwen-specific switches.</summary>
public sealed record GenerationOptions
{
    /// <summary>Sampling; unset fields come from the model's generation_config.json.</summary>
    public SamplingParams Sampling { get; init; } = new();

    /// <summary>Qwen3 thinking on/off (the template variable enable_thinking); null: the template's default.</summary>
    public bool? EnableThinking { get; init; }

    /// <summary>After this many reasoning tokens, end the reasoning (Qwen's documented way) and answer.</summary>
    public int? ThinkingBudget { get; init; }

    /// <summary>OpenAI-style tool definitions ({"type":"function","function":{name, description, parameters}}) passed to the template.</summary>
    public JsonArray? Tools { get; init; }

    /// <summary>"auto" (default), "none", "required", or a tool name the model must call.</summary>
    public string? ToolChoice { get; init; }

    /// <summary>Allow several tool calls in one turn (OpenAI's parallel_tool_calls); false keeps only the first.</summary>
    public bool ParallelToolCalls { get; init; } = true;

    /// <summary>Extra template variables (chat_template_kwargs).</summary>
    public IReadOnlyDictionary<string, JsonNode?>? TemplateVariables { get; init; }

    /// <summary>
    /// transformers' behaviour: tokenize the whole rendered prompt with special tokens parsed everywhere,
    /// so special-token text inside messages becomes control tokens. Off by default: message content is
    /// plain text and only the template itself can write special tokens.
    /// </summary>
    public bool ParseSpecialTokensInContent { get; init; }

    /// <summary>Continue the last (assistant) message instead of starting a new turn.</summary>
    public bool ContinueFinalMessage { get; init; }

    /// <summary>LoRA adapter name, one loaded with <see cref="Qwen.LoadAdapter"/> (null: <see cref="Qwen.DefaultAdapter"/>, which is the base model unless set; "": the base model).</summary>
    public string? Adapter { get; init; }
}

/// <summary>What kind of streamed update this is.</summary>
public enum ChatUpdateKind { Reasoning, Content, ToolCall, Finished }

/// <summary>One streamed piece of a chat answer.</summary>
public sealed record ChatUpdate
{
    public required ChatUpdateKind Kind { get; init; }
    public string? Text { get; init; }
    public ToolCall? ToolCall { get; init; }
    /// <summary>Generated token ids carried by this update (reasoning/content), for callers that want them.</summary>
    public IReadOnlyList<int>? TokenIds { get; init; }
    /// <summary>Per-token log-probabilities, when asked for.</summary>
    public IReadOnlyList<TokenLogprobInfo>? Logprobs { get; init; }
    public string? FinishReason { get; init; }
    public Usage? Usage { get; init; }
    public string? Error { get; init; }
}

/// <summary>A generated token's log-probability with its alternatives (OpenAI's logprobs.content entries).</summary>
public sealed record TokenLogprobInfo(int TokenId, string Token, float Logprob, IReadOnlyList<(int TokenId, string Token, float Logprob)> Top);

/// <summary>Token counts of one request.</summary>
public sealed record Usage(int PromptTokens, int CompletionTokens, int CachedPromptTokens = 0, int ReasoningTokens = 0)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>A whole (non-streamed) chat answer.</summary>
public sealed record ChatResult
{
    public string Text { get; init; } = "";
    public string Reasoning { get; init; } = "";
    public IReadOnlyList<ToolCall> ToolCalls { get; init; } = [];
    public IReadOnlyList<int> TokenIds { get; init; } = [];
    public IReadOnlyList<TokenLogprobInfo>? Logprobs { get; init; }
    public string FinishReason { get; init; } = "stop";
    public Usage Usage { get; init; } = new(0, 0);
}
