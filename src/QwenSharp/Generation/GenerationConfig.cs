using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;

namespace QwenSharp.Generation;

/// <summary>A model's generation_config.json: default sampling and the end-of-generation ids.</summary>
public sealed record GenerationConfig
{
    public SamplingParams Defaults { get; init; } = new();
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? BosTokenId { get; init; }
    public int? PadTokenId { get; init; }

    public static GenerationConfig Empty { get; } = new();

    /// <summary>Reads generation_config.json; a missing file gives <see cref="Empty"/>.</summary>
    public static GenerationConfig Load(string path)
    {
        if (!File.Exists(path)) return Empty;
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException(path, "not a JSON object"); }
        catch (JsonException e) { throw new ModelFormatException(path, $"not valid JSON: {e.Message}"); }
        float? F(string k) => o[k] is JsonValue v && v.TryGetValue(out double d) ? (float)d : o[k] is null ? null : throw new ModelFormatException(path, $"'{k}' must be a number");
        int? I(string k) => o[k] is JsonValue v && v.TryGetValue(out int i) ? i : o[k] is null ? null : throw new ModelFormatException(path, $"'{k}' must be an integer");
        var eos = new List<int>();
        switch (o["eos_token_id"])
        {
            case null: break;
            case JsonArray a:
                foreach (var x in a) eos.Add(x is JsonValue xv && xv.TryGetValue(out int id) ? id : throw new ModelFormatException(path, "'eos_token_id' must hold integers"));
                break;
            case JsonValue v when v.TryGetValue(out int id): eos.Add(id); break;
            default: throw new ModelFormatException(path, "'eos_token_id' must be an integer or a list of integers");
        }
        bool doSample = o["do_sample"] is JsonValue ds && ds.TryGetValue(out bool b) ? b : false;
        var defaults = new SamplingParams
        {
            // transformers samples only when do_sample is true; otherwise it decodes greedily.
            Temperature = doSample ? F("temperature") ?? 1f : 0f,
            TopK = doSample ? I("top_k") : null,
            TopP = doSample ? F("top_p") : null,
            MinP = doSample ? F("min_p") : null,
            RepetitionPenalty = F("repetition_penalty"),
            PresencePenalty = F("presence_penalty"),
            MaxTokens = I("max_new_tokens"),
        };
        return new GenerationConfig { Defaults = defaults, EosTokenIds = eos, BosTokenId = I("bos_token_id"), PadTokenId = I("pad_token_id") };
    }
}
