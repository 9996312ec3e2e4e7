using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Generation;

namespace QwenSharp.Cli.Commands;

/// <summary>The sampling and model flags shared by `generate` and `chat`, named after the parameters.</summary>
public sealed class GenerationFlags
{
    public readonly Option<string?> Model = new("--model", "-m") { Description = $"Model: a Hugging Face folder, a .gguf file, or a Hub repo id (default {ModelResolver.DefaultModel})" };
    public readonly Option<string?> Include = new("--include") { Description = "For a GGUF repo id: which file, e.g. '*Q4_K_M.gguf'" };
    public readonly Option<float?> Temperature = new("--temperature") { Description = "Sampling temperature; 0 means greedy (default: the model's generation_config.json)" };
    public readonly Option<int?> TopK = new("--top-k") { Description = "Keep the k most likely tokens (0: off)" };
    public readonly Option<float?> TopP = new("--top-p") { Description = "Nucleus sampling threshold (1: off)" };
    public readonly Option<float?> MinP = new("--min-p") { Description = "Drop tokens below min_p x the top token's probability (0: off)" };
    public readonly Option<float?> RepetitionPenalty = new("--repetition-penalty") { Description = "transformers' repetition penalty (1: off)" };
    public readonly Option<float?> PresencePenalty = new("--presence-penalty") { Description = "OpenAI presence penalty (-2..2)" };
    public readonly Option<float?> FrequencyPenalty = new("--frequency-penalty") { Description = "OpenAI frequency penalty (-2..2)" };
    public readonly Option<long?> Seed = new("--seed") { Description = "Random seed: the same seed and input give the same output" };
    public readonly Option<int?> MaxTokens = new("--max-tokens", "-n") { Description = "Most tokens to generate" };
    public readonly Option<string[]> Stop = new("--stop") { Description = "Stop string (repeatable); not included in the output", Arity = ArgumentArity.OneOrMore };
    public readonly Option<bool> Think = new("--think") { Description = "Qwen3: thinking on (enable_thinking=true)" };
    public readonly Option<bool> NoThink = new("--no-think") { Description = "Qwen3: thinking off (enable_thinking=false)" };
    public readonly Option<int?> ThinkingBudget = new("--thinking-budget") { Description = "End the reasoning after this many tokens and answer" };
    public readonly Option<string?> System = new("--system") { Description = "System prompt" };
    public readonly Option<int?> Threads = CliOptions.Threads();
    public readonly Option<string?> Quantize = CliOptions.Quantize();
    public readonly Option<string?> KvType = new("--kv-type") { Description = "KV cache type: f16 (default), f32 or q8_0" };
    public readonly Option<int?> Context = new("--ctx-size", "-c") { Description = "KV cache size in tokens (default: the model's context length, at most 32768)" };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Model, Include, Temperature, TopK, TopP, MinP, RepetitionPenalty, PresencePenalty, FrequencyPenalty, Seed, MaxTokens, Stop, Think, NoThink, ThinkingBudget, System, Threads, Quantize, KvType, Context })
            cmd.Add(o);
    }

    public SamplingParams Sampling(ParseResult r) => new()
    {
        Temperature = r.GetValue(Temperature),
        TopK = r.GetValue(TopK),
        TopP = r.GetValue(TopP),
        MinP = r.GetValue(MinP),
        RepetitionPenalty = r.GetValue(RepetitionPenalty),
        PresencePenalty = r.GetValue(PresencePenalty),
        FrequencyPenalty = r.GetValue(FrequencyPenalty),
        Seed = r.GetValue(Seed),
        MaxTokens = r.GetValue(MaxTokens),
        Stop = r.GetValue(Stop) is { Length: > 0 } s ? s : null,
    };

    public bool? EnableThinking(ParseResult r)
    {
        bool think = r.GetValue(Think), noThink = r.GetValue(NoThink);
        if (think && noThink) throw new CliException("--think and --no-think cannot both be given", 2);
        return think ? true : noThink ? false : null;
    }

    /// <summary>Validates the sampling flags, naming the flag on error.</summary>
    public SamplingParams ValidSampling(ParseResult r)
    {
        var s = Sampling(r);
        try { s.Validate(); }
        catch (ArgumentException e) { throw new CliException("--" + e.Message.Replace('_', '-'), 2); }
        if (s.MaxTokens is < 0) throw new CliException("--max-tokens must not be negative", 2);
        return s;
    }

    /// <summary>Loads the model the flags name (downloading a repo id on first use); <paramref name="configureEngine"/> adjusts the engine settings (serve's queue and batch limits).</summary>
    public Qwen Load(ParseResult r, TextWriter progress, Func<EngineOptions, EngineOptions>? configureEngine = null)
    {
        string model = r.GetValue(Model) ?? ModelResolver.DefaultModel;
        string path = ModelResolver.Resolve(model, r.GetValue(Include), progress);
        var kv = r.GetValue(KvType) is { } k ? k.ToLowerInvariant() switch
        {
            "f16" => Models.KvCacheType.F16,
            "f32" => Models.KvCacheType.F32,
            "q8_0" => Models.KvCacheType.Q8_0,
            _ => throw new CliException($"--kv-type: '{k}' is not a KV cache type (f16, f32, q8_0)", 2),
        } : Models.KvCacheType.F16;
        int? threads = r.GetValue(Threads);
        if (threads is < 1 or > 1024) throw new CliException($"--threads: {threads} must be between 1 and 1024", 2);
        int? ctx = r.GetValue(Context);
        if (ctx is < 16) throw new CliException($"--ctx-size: {ctx} is too small (at least 16)", 2);
        var options = new QwenOptions
        {
            Load = CliOptions.LoadOptions(r.GetValue(Quantize)),
            Engine = new EngineOptions { KvCacheType = kv, Threads = threads, KvCacheTokens = ctx },
        };
        if (configureEngine != null) options = options with { Engine = configureEngine(options.Engine) };
        return Qwen.Load(path, options);
    }

    /// <summary>Reads OpenAI-style tool definitions from a JSON file (an array, or {"tools": [...]}).</summary>
    public static JsonArray ReadTools(string path)
    {
        if (!File.Exists(path)) throw new CliException($"--tools: {path}: file not found", 2);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new CliException($"--tools: {path}: not valid JSON: {e.Message}", 2); }
        var arr = node as JsonArray ?? node?["tools"] as JsonArray
                  ?? throw new CliException($"--tools: {path}: expected a JSON array of tool definitions (or an object with \"tools\")", 2);
        for (int i = 0; i < arr.Count; i++)
        {
            var fn = arr[i]?["function"] ?? arr[i];
            if (fn?["name"] is not JsonValue n || !n.TryGetValue(out string? _))
                throw new CliException($"--tools: {path}: tool {i} has no \"name\" (expected {{\"type\": \"function\", \"function\": {{\"name\": ...}}}})", 2);
        }
        return arr;
    }
}
