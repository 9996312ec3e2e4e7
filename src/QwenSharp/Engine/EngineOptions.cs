using QwenSharp.Models;

namespace QwenSharp.Engine;

/// <summary>Settings of an <see cref="InferenceEngine"/>.</summary>
public sealed record EngineOptions
{
    /// <summary>Token slots in the KV cache shared by all sequences (null: the model's context length, at most 32768).</summary>
    public long? KvCacheTokens { get; init; }
    /// <summary>Element type of the KV cache (F16 by default: half the memory of F32).</summary>
    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;
    /// <summary>Most tokens in one forward pass: decode tokens of running sequences plus prompt chunks.</summary>
    public int MaxBatchTokens { get; init; } = 512;
    /// <summary>Most sequences decoding together.</summary>
    public int MaxSequences { get; init; } = 64;
    /// <summary>Requests waiting beyond this many are refused (<see cref="EngineOverloadedException"/>).</summary>
    public int MaxQueuedRequests { get; init; } = 256;
    /// <summary>Reuse the KV blocks of prompt prefixes seen before (system prompts, chat history).</summary>
    public bool PrefixCaching { get; init; } = true;
    /// <summary>Kernel threads (null: one per core).</summary>
    public int? Threads { get; init; }
}

/// <summary>The request queue is full; try again later (HTTP 429/503).</summary>
public sealed class EngineOverloadedException(string message) : Exception(message);
