using System.Text.Json;
using System.Text.RegularExpressions;
using QwenSharp.Formats;

namespace QwenSharp.Hub;

/// <summary>The weight format of a model folder.</summary>
public enum ModelFormat { Other, Safetensors, Gguf, SafetensorsAndGguf }

/// <summary>What <see cref="ModelFolderInspector"/> found in a folder.</summary>
/// <param name="Format">Weight files present.</param>
/// <param name="Runnable">Whether QwenSharp can run it today.</param>
/// <param name="Reason">"yes", or why not ("vision-language model (qwen2_5_vl) is not supported yet", "missing model-00002-of-00004.safetensors", ...).</param>
/// <param name="Architecture">config.json's model_type or the GGUF general.architecture, when readable.</param>
/// <param name="GgufFiles">The GGUF model files (first part of split files; projector files left out), relative, '/'-separated.</param>
public sealed record ModelFolderInfo(ModelFormat Format, bool Runnable, string Reason, string? Architecture, IReadOnlyList<string> GgufFiles);

/// <summary>
/// Tells what a model folder holds and whether QwenSharp runs it: Hugging Face safetensors folders whose
/// config.json model_type is qwen2, qwen3, qwen2_moe or qwen3_moe (with every shard and tokenizer.json present),
/// and GGUF files whose general.architecture is qwen2, qwen3, qwen2moe or qwen3moe (with every split part present).
/// </summary>
public static partial class ModelFolderInspector
{
    /// <summary>config.json model_type values QwenSharp runs.</summary>
    public static readonly IReadOnlySet<string> SupportedModelTypes = new HashSet<string> { "qwen2", "qwen3", "qwen2_moe", "qwen3_moe" };

    /// <summary>GGUF general.architecture values QwenSharp runs.</summary>
    public static readonly IReadOnlySet<string> SupportedGgufArchitectures = new HashSet<string> { "qwen2", "qwen3", "qwen2moe", "qwen3moe" };

    public static ModelFolderInfo Inspect(string folder)
    {
        var files = Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/')).Order(StringComparer.Ordinal).ToList()
            : [];
        var fileSet = new HashSet<string>(files, StringComparer.Ordinal);
        bool hasSafetensors = files.Any(f => f.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase));
        var ggufAll = files.Where(f => f.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)).ToList();
        var format = (hasSafetensors, ggufAll.Count > 0) switch
        {
            (true, true) => ModelFormat.SafetensorsAndGguf,
            (true, false) => ModelFormat.Safetensors,
            (false, true) => ModelFormat.Gguf,
            _ => ModelFormat.Other,
        };

        (bool ok, string reason, string? arch)? st = hasSafetensors || fileSet.Contains("config.json") ? InspectSafetensors(folder, fileSet) : null;
        var (ggufModels, gg) = ggufAll.Count > 0 ? InspectGguf(folder, ggufAll, fileSet) : ([], ((bool, string, string?)?)null);

        if (st is { ok: true }) return new ModelFolderInfo(format, true, "yes", st.Value.arch, ggufModels);
        if (gg is { Item1: true }) return new ModelFolderInfo(format, true, gg.Value.Item2, gg.Value.Item3, ggufModels);
        if (st != null && (gg == null || hasSafetensors)) return new ModelFolderInfo(format, false, st.Value.reason, st.Value.arch, ggufModels);
        if (gg != null) return new ModelFolderInfo(format, false, gg.Value.Item2, gg.Value.Item3, ggufModels);
        return new ModelFolderInfo(format, false, files.Count == 0 ? "empty folder" : "no model weights (.safetensors or .gguf)", null, ggufModels);
    }

    static (bool ok, string reason, string? arch) InspectSafetensors(string folder, HashSet<string> files)
    {
        if (!files.Contains("config.json")) return (false, "config.json missing", null);
        string? modelType;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
            modelType = doc.RootElement.TryGetProperty("model_type", out var mt) ? mt.GetString() : null;
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or UnauthorizedAccessException)
        {
            return (false, $"config.json unreadable ({e.Message})", null);
        }
        if (modelType == null) return (false, "config.json has no model_type", null);
        if (!SupportedModelTypes.Contains(modelType)) return (false, Unsupported(modelType), modelType);

        if (files.Contains("model.safetensors.index.json"))
        {
            try
            {
                using var idx = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "model.safetensors.index.json")));
                var shards = idx.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Value.GetString()!).Distinct().ToList();
                var missing = shards.Where(s => !files.Contains(s)).ToList();
                if (missing.Count > 0) return (false, $"incomplete: missing {string.Join(", ", missing.Take(3))}{(missing.Count > 3 ? $" (+{missing.Count - 3})" : "")}", modelType);
            }
            catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or KeyNotFoundException)
            {
                return (false, $"model.safetensors.index.json unreadable ({e.Message})", modelType);
            }
        }
        else if (!files.Any(f => f.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)))
            return (false, "no .safetensors weights", modelType);
        if (!files.Contains("tokenizer.json")) return (false, "tokenizer.json missing", modelType);
        return (true, "yes", modelType);
    }

    static (List<string> models, (bool, string, string?)? result) InspectGguf(string folder, List<string> ggufs, HashSet<string> files)
    {
        var models = new List<string>();
        var problems = new List<string>();
        string? arch = null;
        bool anyOk = false;
        foreach (var g in ggufs)
        {
            var m = SplitPart().Match(g);
            if (m.Success && m.Groups[1].Value != "00001") continue; // not the first part of a split file
            string? a;
            try
            {
                using var gguf = new GgufFile(Path.Combine(folder, g));
                a = gguf.GetString("general.architecture");
            }
            catch (Exception e) when (e is ModelFormatException or IOException or UnauthorizedAccessException)
            {
                problems.Add($"{g}: unreadable ({e.Message})");
                continue;
            }
            if (a == "clip") continue; // a vision projector (mmproj), not a language model
            models.Add(g);
            arch ??= a;
            if (m.Success)
            {
                int count = int.Parse(m.Groups[2].Value);
                string prefix = g[..^m.Value.Length];
                var missing = Enumerable.Range(1, count).Select(i => $"{prefix}-{i:00000}-of-{count:00000}.gguf").Where(p => !files.Contains(p)).ToList();
                if (missing.Count > 0) { problems.Add($"incomplete: missing {missing[0]}{(missing.Count > 1 ? $" (+{missing.Count - 1})" : "")}"); continue; }
            }
            if (a == null || !SupportedGgufArchitectures.Contains(a)) { problems.Add(a == null ? $"{g}: no general.architecture" : Unsupported(a)); continue; }
            anyOk = true;
        }
        if (anyOk) return (models, (true, models.Count > 1 ? $"yes ({models.Count} GGUF files: pick one with --include)" : "yes", arch));
        return (models, (false, problems.Count > 0 ? problems[0] : "no GGUF language model", arch));
    }

    /// <summary>Why an architecture does not run, in words.</summary>
    public static string Unsupported(string arch)
    {
        string a = arch.ToLowerInvariant();
        if (a.Contains("vl") || a.Contains("vision") || a == "clip") return $"vision-language model ({arch}): vision is not supported yet";
        if (a.Contains("audio") || a.Contains("omni")) return $"audio model ({arch}): audio is not supported yet";
        return $"architecture {arch} is not supported (QwenSharp runs qwen2, qwen3, qwen2_moe and qwen3_moe text models)";
    }

    [GeneratedRegex(@"-(\d{5})-of-(\d{5})\.gguf$", RegexOptions.IgnoreCase)] private static partial Regex SplitPart();

    /// <summary>True for a split GGUF part other than the first ("-00002-of-00003.gguf").</summary>
    public static bool IsLaterSplitPart(string path) { var m = SplitPart().Match(path); return m.Success && m.Groups[1].Value != "00001"; }
}
