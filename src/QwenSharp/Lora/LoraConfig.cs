using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QwenSharp.Formats;

namespace QwenSharp.Lora;

/// <summary>
/// A LoRA adapter's settings, as Hugging Face PEFT's LoraConfig writes them to adapter_config.json:
/// r, lora_alpha, target_modules, use_rslora, rank_pattern / alpha_pattern (per-module overrides).
/// The scale applied to B·A is lora_alpha / r (or lora_alpha / sqrt(r) with use_rslora).
/// </summary>
public sealed record LoraConfig
{
    public const string FileName = "adapter_config.json";

    /// <summary>The modules of a Qwen decoder layer LoRA can target (nn.Linear names, as PEFT matches them).</summary>
    public static readonly string[] SupportedTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public int R { get; init; } = 8;
    public double LoraAlpha { get; init; } = 8;
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "v_proj"];
    public bool UseRslora { get; init; }
    public double LoraDropout { get; init; }
    public string? BaseModelNameOrPath { get; init; }
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();
    public string TaskType { get; init; } = "CAUSAL_LM";

    /// <summary>The scale of B·A for one module (HF module path, e.g. model.layers.0.self_attn.q_proj) of rank <paramref name="rank"/>.</summary>
    public float ScaleFor(string module, int rank)
    {
        double alpha = LoraAlpha;
        foreach (var (pattern, a) in AlphaPattern)
            if (PatternMatches(pattern, module)) { alpha = a; break; }
        return (float)(UseRslora ? alpha / Math.Sqrt(rank) : alpha / rank);
    }

    /// <summary>The rank PEFT would create for a module (rank_pattern overrides r).</summary>
    public int RankFor(string module)
    {
        foreach (var (pattern, r) in RankPattern)
            if (PatternMatches(pattern, module)) return r;
        return R;
    }

    /// <summary>PEFT's key matching for rank_pattern / alpha_pattern: the key matches the end of the module name at a dot boundary.</summary>
    static bool PatternMatches(string pattern, string module)
    {
        try { return Regex.IsMatch(module, $"^(.*\\.)?({pattern})$"); }
        catch (ArgumentException) { return module == pattern || module.EndsWith("." + pattern, StringComparison.Ordinal); }
    }

    /// <summary>Whether PEFT would wrap <paramref name="module"/> given target_modules (a list of names, or a regex string).</summary>
    public bool Targets(string module)
    {
        if (TargetModules.Count == 1 && TargetModules[0].StartsWith("re:", StringComparison.Ordinal))
            return Regex.IsMatch(module, "^" + TargetModules[0][3..] + "$");
        foreach (var t in TargetModules)
            if (module == t || module.EndsWith("." + t, StringComparison.Ordinal)) return true;
        return false;
    }

    // ---- adapter_config.json ----------------------------------------------------------------

    /// <summary>Reads adapter_config.json, rejecting settings this library cannot apply (DoRA, bias, fan_in_fan_out, other PEFT types).</summary>
    public static LoraConfig Read(string path)
    {
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException(path, "not a JSON object"); }
        catch (JsonException e) { throw new ModelFormatException(path, $"not valid JSON: {e.Message}"); }

        string? peftType = Str(o, "peft_type", path);
        if (peftType != null && peftType != "LORA")
            throw new ModelFormatException(path, $"peft_type '{peftType}' is not supported (only LORA adapters)");
        if (Bool(o, "use_dora", path)) throw new ModelFormatException(path, "use_dora: DoRA adapters are not supported");
        if (Bool(o, "fan_in_fan_out", path)) throw new ModelFormatException(path, "fan_in_fan_out: true is for Conv1D models (GPT-2), not Qwen");
        if (Str(o, "bias", path) is { } bias && bias != "none")
            throw new ModelFormatException(path, $"bias '{bias}': adapters with trained biases are not supported (only bias \"none\")");
        if (Bool(o, "lora_bias", path)) throw new ModelFormatException(path, "lora_bias: adapters with a lora_B bias are not supported");

        IReadOnlyList<string> targets = o["target_modules"] switch
        {
            null => [],
            JsonArray a => a.Select((n, i) => n is JsonValue v && v.TryGetValue(out string? s) ? s
                : throw new ModelFormatException(path, $"target_modules[{i}] is not a string")).ToArray(),
            JsonValue v when v.TryGetValue(out string? s) => ["re:" + s],
            _ => throw new ModelFormatException(path, "target_modules must be a list of module names or a regular expression string"),
        };

        return new LoraConfig
        {
            R = Int(o, "r", path) ?? 8,
            LoraAlpha = Num(o, "lora_alpha", path) ?? 8,
            TargetModules = targets,
            UseRslora = Bool(o, "use_rslora", path),
            LoraDropout = Num(o, "lora_dropout", path) ?? 0,
            BaseModelNameOrPath = Str(o, "base_model_name_or_path", path),
            RankPattern = Patterns(o, "rank_pattern", path).ToDictionary(p => p.Key, p => (int)p.Value),
            AlphaPattern = Patterns(o, "alpha_pattern", path).ToDictionary(p => p.Key, p => p.Value),
            TaskType = Str(o, "task_type", path) ?? "CAUSAL_LM",
        };
    }

    /// <summary>adapter_config.json with the keys every PEFT version (0.10 on) writes and reads for a LoRA adapter, sorted (newer PEFT versions add keys with default values; older ones reject unknown keys).</summary>
    public JsonObject ToJson()
    {
        var targets = new JsonArray();
        foreach (var t in TargetModules.Order(StringComparer.Ordinal)) targets.Add((JsonNode)t);
        var rank = new JsonObject();
        foreach (var (k, v) in RankPattern) rank[k] = v;
        var alpha = new JsonObject();
        foreach (var (k, v) in AlphaPattern) alpha[k] = v;
        var o = new JsonObject
        {
            ["alpha_pattern"] = alpha,
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = BaseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["loftq_config"] = new JsonObject(),
            ["lora_alpha"] = LoraAlpha == Math.Floor(LoraAlpha) && Math.Abs(LoraAlpha) < 1e9 ? JsonValue.Create((long)LoraAlpha) : JsonValue.Create(LoraAlpha),
            ["lora_dropout"] = LoraDropout,
            ["megatron_config"] = null,
            ["megatron_core"] = "megatron.core",
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = R,
            ["rank_pattern"] = rank,
            ["revision"] = null,
            ["target_modules"] = targets,
            ["task_type"] = TaskType,
            ["use_dora"] = false,
            ["use_rslora"] = UseRslora,
        };
        return o;
    }

    public void Write(string path) =>
        AtomicWrite.Text(path, ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

    static string? Str(JsonObject o, string key, string path) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw new ModelFormatException(path, $"'{key}' must be a string"),
    };

    static bool Bool(JsonObject o, string key, string path) => o[key] switch
    {
        null => false,
        JsonValue v when v.TryGetValue(out bool b) => b,
        _ => throw new ModelFormatException(path, $"'{key}' must be true or false"),
    };

    static double? Num(JsonObject o, string key, string path) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out double d) => d,
        _ => throw new ModelFormatException(path, $"'{key}' must be a number"),
    };

    static int? Int(JsonObject o, string key, string path)
    {
        var d = Num(o, key, path);
        if (d is null) return null;
        if (d != Math.Floor(d.Value) || d < 1 || d > 65536) throw new ModelFormatException(path, $"'{key}' must be a whole number from 1 to 65536, not {d}");
        return (int)d;
    }

    static IEnumerable<KeyValuePair<string, double>> Patterns(JsonObject o, string key, string path)
    {
        if (o[key] is null) yield break;
        if (o[key] is not JsonObject p) throw new ModelFormatException(path, $"'{key}' must be an object");
        foreach (var (k, v) in p)
        {
            if (v is not JsonValue jv || !jv.TryGetValue(out double d)) throw new ModelFormatException(path, $"'{key}.{k}' must be a number");
            yield return new(k, d);
        }
    }
}

/// <summary>Writes files atomically (a temporary name beside the target, then renamed).</summary>
internal static class AtomicWrite
{
    public static void Text(string path, string text) => Bytes(path, s => { var b = System.Text.Encoding.UTF8.GetBytes(text); s.Write(b); });

    public static void Bytes(string path, Action<Stream> write)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write)) write(fs);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { /* best effort */ }
            throw;
        }
    }
}
