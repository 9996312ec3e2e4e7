using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// The model names this server answers to: the base model (its name and aliases) and, for each LoRA
/// adapter, "BASE:ADAPTER" (the adapter name alone is accepted too). A request's <c>model</c> resolves
/// to the adapter to use (null: the base model); an unknown name is a 404, as in OpenAI's API.
/// </summary>
public sealed class ServedModels
{
    readonly HashSet<string> _baseNames;
    readonly Dictionary<string, string> _adapters = new(StringComparer.Ordinal);
    readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    readonly int _maxModelLength;

    public ServedModels(Qwen qwen, IOptions<QwenServerOptions> options)
    {
        var o = options.Value;
        Name = string.IsNullOrWhiteSpace(o.ModelName) ? qwen.Name : o.ModelName;
        _baseNames = new HashSet<string>(StringComparer.Ordinal) { Name };
        foreach (var a in o.ModelAliases) _baseNames.Add(a);
        foreach (var adapter in o.Adapters)
        {
            _adapters[$"{Name}:{adapter}"] = adapter;
            _adapters.TryAdd(adapter, adapter);
        }
        _maxModelLength = qwen.Engine.MaxSequenceLength;
    }

    /// <summary>The base model's served name.</summary>
    public string Name { get; }

    public int MaxModelLength => _maxModelLength;

    /// <summary>The adapter a request's model name selects (null: the base model). Absent names mean the base model.</summary>
    public string? Resolve(string? requested)
    {
        if (requested is null || _baseNames.Contains(requested)) return null;
        if (_adapters.TryGetValue(requested, out var adapter)) return adapter;
        throw OpenAiException.NotFound($"The model '{requested}' does not exist; this server serves '{Name}' (see GET /v1/models)", "model_not_found", "model");
    }

    /// <summary>The /v1/models list (vLLM's fields: root, parent, max_model_len).</summary>
    public JsonObject List()
    {
        var data = new JsonArray { (JsonNode)Entry(Name, null, Name) };
        foreach (var (name, adapter) in _adapters)
            if (name.Contains(':')) data.Add((JsonNode)Entry(name, Name, adapter));
        return new JsonObject { ["object"] = "list", ["data"] = data };
    }

    public JsonObject? Find(string id)
    {
        if (id == Name) return Entry(Name, null, Name);
        if (_adapters.TryGetValue(id, out var adapter)) return Entry($"{Name}:{adapter}", Name, adapter);
        return null;
    }

    JsonObject Entry(string id, string? parent, string root) => new()
    {
        ["id"] = id,
        ["object"] = "model",
        ["created"] = _created,
        ["owned_by"] = "qwensharp",
        ["root"] = root,
        ["parent"] = parent,
        ["max_model_len"] = _maxModelLength,
    };
}
