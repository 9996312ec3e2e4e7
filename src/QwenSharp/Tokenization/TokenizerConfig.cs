using System.Text.Json;
using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

/// <summary>
/// What tokenizer_config.json and generation_config.json add to tokenizer.json: the BOS/EOS/PAD token
/// strings (a string, or an AddedToken object with a "content"), the chat template(s), and the
/// end-of-generation ids of generation_config.json (an int or a list of ints).
/// </summary>
internal sealed class TokenizerConfig
{
    public string? BosToken, EosToken, PadToken;
    /// <summary>The "default" chat template (the only one when chat_template is a string).</summary>
    public string? ChatTemplate;
    /// <summary>All named templates (a string chat_template is named "default").</summary>
    public Dictionary<string, string> ChatTemplates = new(StringComparer.Ordinal);
    public List<int> GenerationEosIds = [];

    public static void ReadTokenizerConfig(string path, TokenizerConfig into)
    {
        using var doc = Load(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "the top level is not a JSON object");
        into.BosToken = TokenString(root, "bos_token", path);
        into.EosToken = TokenString(root, "eos_token", path);
        into.PadToken = TokenString(root, "pad_token", path);
        if (root.TryGetProperty("chat_template", out var ct))
        {
            switch (ct.ValueKind)
            {
                case JsonValueKind.String:
                    into.ChatTemplates["default"] = ct.GetString()!;
                    break;
                case JsonValueKind.Array:
                    int i = 0;
                    foreach (var t in ct.EnumerateArray())
                    {
                        if (t.ValueKind != JsonValueKind.Object
                            || !t.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                            || !t.TryGetProperty("template", out var tpl) || tpl.ValueKind != JsonValueKind.String)
                            throw new ModelFormatException(path, $"chat_template[{i}] is not an object with string fields 'name' and 'template'");
                        into.ChatTemplates[n.GetString()!] = tpl.GetString()!;
                        i++;
                    }
                    break;
                case JsonValueKind.Null: break;
                default: throw new ModelFormatException(path, "chat_template is neither a string nor a list of {name, template}");
            }
            into.ChatTemplate = into.ChatTemplates.GetValueOrDefault("default");
        }
    }

    public static void ReadGenerationConfig(string path, TokenizerConfig into)
    {
        using var doc = Load(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "the top level is not a JSON object");
        if (!root.TryGetProperty("eos_token_id", out var eos)) return;
        switch (eos.ValueKind)
        {
            case JsonValueKind.Number:
                into.GenerationEosIds.Add(TokenId(eos, path, "eos_token_id"));
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var e in eos.EnumerateArray()) into.GenerationEosIds.Add(TokenId(e, path, $"eos_token_id[{i++}]"));
                break;
            case JsonValueKind.Null: break;
            default: throw new ModelFormatException(path, "eos_token_id is neither an integer nor a list of integers");
        }
    }

    static int TokenId(JsonElement e, string path, string field) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0
            ? id : throw new ModelFormatException(path, $"{field} is not a token id");

    static string? TokenString(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new ModelFormatException(path, $"{name} is neither a string, null, nor an object with a string 'content'"),
        };
    }

    static JsonDocument Load(string path)
    {
        try
        {
            using var fs = File.OpenRead(path);
            return JsonDocument.Parse(fs, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e) { throw new ModelFormatException(path, $"not valid JSON: {e.Message}"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ModelFormatException(path, $"cannot read the file: {e.Message}"); }
    }
}
