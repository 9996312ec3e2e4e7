using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;

namespace QwenSharp.Templates;

/// <summary>
/// Finds a model's chat template and special tokens: in a Hugging Face folder (chat_template.jinja,
/// tokenizer_config.json, chat_template.json, additional_chat_templates/NAME.jinja) or in GGUF metadata
/// (tokenizer.chat_template[.NAME], tokenizer.ggml.*_token_id).
/// </summary>
internal static class ModelTemplateReader
{
    internal sealed record Found(string? Source, string Origin, IReadOnlyDictionary<string, JsonNode?> SpecialTokens);

    static readonly string[] TokenKeys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    public static Found Read(string path, string? templateName)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) return ReadFolder(path, templateName);
        if (!File.Exists(path)) throw new FileNotFoundException($"no model folder or file at '{path}'", path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".jinja") return new Found(File.ReadAllText(path), path, new Dictionary<string, JsonNode?>());
        if (ext == ".json")
        {
            var config = ReadJson(path);
            var source = TemplateFromConfig(config, path, templateName);
            return new Found(source, path + (source != null ? " (chat_template)" : ""), TokensFromConfig(config));
        }
        if (ext == ".gguf" || HasGgufMagic(path)) return ReadGguf(path, templateName);
        throw new ModelFormatException(path, "not a model folder, .gguf, tokenizer_config.json or .jinja file");
    }

    static Found ReadFolder(string dir, string? templateName)
    {
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        JsonObject? config = File.Exists(configPath) ? ReadJson(configPath) : null;
        var tokens = config != null ? TokensFromConfig(config) : new Dictionary<string, JsonNode?>();

        if (templateName != null && templateName != "default")
        {
            var extraFile = Path.Combine(dir, "additional_chat_templates", templateName + ".jinja");
            if (File.Exists(extraFile)) return new Found(File.ReadAllText(extraFile), extraFile, tokens);
        }
        var jinjaFile = Path.Combine(dir, "chat_template.jinja");
        if ((templateName == null || templateName == "default") && File.Exists(jinjaFile))
            return new Found(File.ReadAllText(jinjaFile), jinjaFile, tokens);
        if (config != null)
        {
            var source = TemplateFromConfig(config, configPath, templateName);
            if (source != null) return new Found(source, configPath + " (chat_template)", tokens);
        }
        var processorPath = Path.Combine(dir, "chat_template.json");
        if (File.Exists(processorPath))
        {
            var source = TemplateFromConfig(ReadJson(processorPath), processorPath, templateName);
            if (source != null) return new Found(source, processorPath + " (chat_template)", tokens);
        }
        if (templateName != null && templateName != "default")
            throw new TemplateException($"InputError: the model at '{dir}' has no chat template named '{templateName}'");
        return new Found(null, dir, tokens);
    }

    static JsonObject ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { MaxDepth = 256 }) as JsonObject
                ?? throw new ModelFormatException(path, "expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, "invalid JSON: " + e.Message);
        }
    }

    /// <summary>The <c>chat_template</c> field: a string, or a list of {name, template} (then "default" or the name asked for).</summary>
    static string? TemplateFromConfig(JsonObject config, string path, string? templateName)
    {
        if (!config.TryGetPropertyValue("chat_template", out var node) || node == null) return null;
        if (node is JsonValue v && v.TryGetValue<string>(out var s))
        {
            if (templateName != null && templateName != "default")
                throw new TemplateException($"InputError: {path} has a single chat template; there is none named '{templateName}'");
            return s;
        }
        if (node is JsonArray list)
        {
            var named = new List<(string Name, string Template)>();
            foreach (var item in list)
            {
                if (item is not JsonObject o || o["name"] is not JsonValue n || !n.TryGetValue<string>(out var name)
                    || o["template"] is not JsonValue t || !t.TryGetValue<string>(out var template))
                    throw new ModelFormatException(path, "chat_template list entries must be {\"name\": string, \"template\": string}");
                named.Add((name, template));
            }
            string want = templateName ?? "default";
            foreach (var (name, template) in named) if (name == want) return template;
            string names = string.Join(", ", named.Select(x => $"'{x.Name}'"));
            throw new TemplateException(templateName == null
                ? $"InputError: {path} has several chat templates and none is named 'default'; choose one of {names}"
                : $"InputError: {path} has no chat template named '{templateName}'; it has {names}");
        }
        throw new ModelFormatException(path, "chat_template must be a string or a list of {name, template}");
    }

    /// <summary>transformers' special_tokens_map: each special token that is set (string or {"content": ...}).</summary>
    static Dictionary<string, JsonNode?> TokensFromConfig(JsonObject config)
    {
        var map = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var key in TokenKeys)
        {
            var text = TokenText(config[key]);
            if (!string.IsNullOrEmpty(text)) map[key] = JsonValue.Create(text);
        }
        if (config["additional_special_tokens"] is JsonArray extra)
        {
            var arr = new JsonArray();
            foreach (var item in extra) { var t = TokenText(item); if (t != null) arr.Add((JsonNode)JsonValue.Create(t)); }
            if (arr.Count > 0) map["additional_special_tokens"] = arr;
        }
        return map;
    }

    static string? TokenText(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonObject o when o["content"] is JsonValue c && c.TryGetValue<string>(out var s) => s,
        _ => null,
    };

    static bool HasGgufMagic(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return f.Read(magic) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (IOException) { return false; }
    }

    static Found ReadGguf(string path, string? templateName)
    {
        using var gguf = new GgufFile(path);
        string key = templateName == null || templateName == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + templateName;
        var source = gguf.GetString(key);
        if (source == null && templateName != null && templateName != "default")
            throw new TemplateException($"InputError: {path} has no chat template named '{templateName}' (no {key})");
        var tokens = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        var vocab = gguf.Metadata.TryGetValue("tokenizer.ggml.tokens", out var t) ? t as string[] : null;
        if (vocab != null)
        {
            foreach (var (name, id) in new[] { ("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"), ("sep_token", "seperator"), ("pad_token", "padding"), ("cls_token", "cls"), ("mask_token", "mask") })
            {
                long? index = gguf.Metadata.ContainsKey($"tokenizer.ggml.{id}_token_id") ? gguf.GetInteger($"tokenizer.ggml.{id}_token_id") : null;
                if (index is >= 0 && index < vocab.Length) tokens[name] = JsonValue.Create(vocab[index.Value]);
            }
        }
        return new Found(source, path + (source != null ? $" ({key})" : ""), tokens);
    }
}
