using QwenSharp.Generation;

namespace QwenSharp.Engine;

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>max_tokens reached, or the context is full.</summary>
    Length,
    /// <summary>The caller cancelled (or the client went away).</summary>
    Cancelled,
    /// <summary>The engine failed; see <see cref="EngineEvent.Error"/>.</summary>
    Error,
}

/// <summary>Ends reasoning after a number of reasoning tokens (Qwen's documented "thinking budget").</summary>
/// <param name="Budget">Reasoning tokens allowed.</param>
/// <param name="ThinkOpenId">Token id of &lt;think&gt;.</param>
/// <param name="ThinkCloseId">Token id of &lt;/think&gt;.</param>
/// <param name="EndTokens">Tokens injected when the budget is spent (an end-of-thinking sentence, then &lt;/think&gt; and "\n\n").</param>
/// <param name="StartsInThinking">The prompt ends inside an open think block (pre-filled &lt;think&gt;).</param>
public sealed record ThinkingBudget(int Budget, int ThinkOpenId, int ThinkCloseId, int[] EndTokens, bool StartsInThinking);

/// <summary>One generation request for the engine: prompt token ids and how to sample.</summary>
public sealed record EngineRequest
{
    public required int[] Prompt { get; init; }
    public SamplingParams Sampling { get; init; } = SamplingParams.Greedy;
    /// <summary>Tokens that end generation (the model's end-of-generation ids).</summary>
    public IReadOnlyCollection<int> EosTokenIds { get; init; } = [];
    public ThinkingBudget? ThinkingBudget { get; init; }
    /// <summary>Skip special tokens in the decoded text (end tokens are never part of the text).</summary>
    public bool SkipSpecialTokens { get; init; }
    /// <summary>LoRA adapter slot (-1: base model).</summary>
    public int AdapterSlot { get; init; } = -1;
}

/// <summary>
/// One step of a sequence's output: a generated token with the text it completes (stop strings held
/// back and removed), or the end (<see cref="Finish"/> set) with the usage counts.
/// </summary>
public sealed record EngineEvent
{
    /// <summary>The token, or -1 on the final event.</summary>
    public int TokenId { get; init; } = -1;
    /// <summary>Text to emit now (may be empty while a UTF-8 sequence or possible stop string is incomplete).</summary>
    public string Text { get; init; } = "";
    public float Logprob { get; init; }
    public TokenLogprob[]? TopLogprobs { get; init; }
    /// <summary>The token was injected by the engine (thinking budget), not sampled.</summary>
    public bool Forced { get; init; }
    public FinishReason? Finish { get; init; }
    public Exception? Error { get; init; }
    public int PromptTokens { get; init; }
    public int CompletionTokens { get; init; }
    /// <summary>Prompt tokens whose KV came from the prefix cache.</summary>
    public int CachedPromptTokens { get; init; }
    /// <summary>Seconds from submission to the first generated token (on the final event).</summary>
    public double TimeToFirstToken { get; init; }
}
