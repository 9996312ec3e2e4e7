namespace QwenSharp.Generation;

/// <summary>
/// How to pick each next token, with transformers' and OpenAI's semantics. Null fields fall back to the
/// model's generation_config.json (<see cref="GenerationConfig.Defaults"/>), then to neutral values.
/// </summary>
public sealed record SamplingParams
{
    /// <summary>Softmax temperature; 0 means greedy (argmax, lowest id on ties).</summary>
    public float? Temperature { get; init; }
    /// <summary>Keep the k most likely tokens (0 or null: no limit).</summary>
    public int? TopK { get; init; }
    /// <summary>Nucleus sampling: keep the most likely tokens whose probabilities add up to top_p (1: no limit).</summary>
    public float? TopP { get; init; }
    /// <summary>Drop tokens less likely than min_p × the most likely token's probability (0: off).</summary>
    public float? MinP { get; init; }
    /// <summary>transformers' rule: logits of tokens already in prompt or output are divided (positive) or multiplied (negative) by it (1: off).</summary>
    public float? RepetitionPenalty { get; init; }
    /// <summary>OpenAI's rule: subtracted once from the logit of every token already generated (0: off).</summary>
    public float? PresencePenalty { get; init; }
    /// <summary>OpenAI's rule: subtracted per occurrence from the logit of tokens already generated (0: off).</summary>
    public float? FrequencyPenalty { get; init; }
    /// <summary>Added to the logits of the given token ids before sampling (OpenAI's logit_bias, -100..100).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>Seed for the random choice; the same seed and input give the same output. Null: random.</summary>
    public long? Seed { get; init; }
    /// <summary>Most tokens to generate (null: until an end token or the context is full).</summary>
    public int? MaxTokens { get; init; }
    /// <summary>Strings that end the output when generated (matched across token boundaries, not included).</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Extra token ids that end the output (besides the model's end-of-generation ids).</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }
    /// <summary>Keep generating past end-of-generation tokens (for benchmarks and parity runs).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>Return the chosen token's log-probability.</summary>
    public bool Logprobs { get; init; }
    /// <summary>Also return this many most likely alternatives per position (0..20).</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Custom logits processors, applied after the penalties (in order).</summary>
    public IReadOnlyList<ILogitsProcessor>? LogitsProcessors { get; init; }

    public static SamplingParams Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Fills unset fields from <paramref name="defaults"/>.</summary>
    public SamplingParams WithDefaults(SamplingParams? defaults) => defaults is null ? this : this with
    {
        Temperature = Temperature ?? defaults.Temperature,
        TopK = TopK ?? defaults.TopK,
        TopP = TopP ?? defaults.TopP,
        MinP = MinP ?? defaults.MinP,
        RepetitionPenalty = RepetitionPenalty ?? defaults.RepetitionPenalty,
        PresencePenalty = PresencePenalty ?? defaults.PresencePenalty,
        FrequencyPenalty = FrequencyPenalty ?? defaults.FrequencyPenalty,
        MaxTokens = MaxTokens ?? defaults.MaxTokens,
    };

    /// <summary>Checks ranges; the message names the parameter as the OpenAI API and the CLI spell it.</summary>
    public void Validate()
    {
        static void Check(bool ok, string param, string msg) { if (!ok) throw new ArgumentException($"{param}: {msg}", param); }
        if (Temperature is { } t) Check(float.IsFinite(t) && t >= 0 && t <= 100, "temperature", $"{t} must be between 0 and 100");
        if (TopK is { } k) Check(k >= 0, "top_k", $"{k} must be 0 (off) or positive");
        if (TopP is { } p) Check(p > 0 && p <= 1, "top_p", $"{p} must be in (0, 1]");
        if (MinP is { } m) Check(m >= 0 && m <= 1, "min_p", $"{m} must be in [0, 1]");
        if (RepetitionPenalty is { } r) Check(float.IsFinite(r) && r > 0, "repetition_penalty", $"{r} must be positive");
        if (PresencePenalty is { } pp) Check(pp >= -2 && pp <= 2, "presence_penalty", $"{pp} must be between -2 and 2");
        if (FrequencyPenalty is { } fp) Check(fp >= -2 && fp <= 2, "frequency_penalty", $"{fp} must be between -2 and 2");
        if (MaxTokens is { } mt) Check(mt >= 0, "max_tokens", $"{mt} must not be negative");
        Check(TopLogprobs >= 0 && TopLogprobs <= 20, "top_logprobs", $"{TopLogprobs} must be between 0 and 20");
        if (LogitBias != null)
            foreach (var (id, b) in LogitBias) Check(float.IsFinite(b) && b >= -100 && b <= 100, "logit_bias", $"bias {b} for token {id} must be between -100 and 100");
        if (Stop != null)
        {
            Check(Stop.Count <= 16, "stop", "at most 16 stop strings");
            foreach (var s in Stop) Check(!string.IsNullOrEmpty(s), "stop", "stop strings must not be empty");
        }
    }
}
