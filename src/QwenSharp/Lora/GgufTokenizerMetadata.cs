using System.Text.Json.Nodes;
using QwenSharp.Formats;

namespace QwenSharp.Lora;

/// <summary>
/// The tokenizer.* GGUF metadata llama.cpp's converter writes for a Qwen Hugging Face folder: gpt2 model,
/// qwen2 pre-tokenizer, tokens by id (rows no token uses padded as [PAD{id}], type 5), token types
/// (1 normal, 3 control for special tokens and &lt;|...|&gt; added tokens, 4 user-defined for other added
/// tokens), merges, bos/eos/padding ids and the chat template. Used when a merged model is written as GGUF.
/// </summary>
internal static class GgufTokenizerMetadata
{
    public static void AddFromHuggingFace(GgufWriter w, string dir, int vocabSize)
    {
        string path = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(path)) throw new ModelFormatException(dir, "no tokenizer.json: cannot write the GGUF tokenizer metadata");
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var model = root["model"] as JsonObject ?? throw new ModelFormatException(path, "missing 'model'");
        var vocab = model["vocab"] as JsonObject ?? throw new ModelFormatException(path, "missing 'model.vocab'");

        int size = vocabSize;
        var tokens = new string?[size];
        var types = new int[size];
        foreach (var (tok, idNode) in vocab)
        {
            int id = idNode!.GetValue<int>();
            if ((uint)id < (uint)size) { tokens[id] = tok; types[id] = 1; }
        }
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root["added_tokens"] is JsonArray added)
            foreach (var a in added.OfType<JsonObject>())
            {
                int id = a["id"]!.GetValue<int>();
                string content = a["content"]!.GetValue<string>();
                bool special = a["special"]?.GetValue<bool>() ?? false;
                if ((uint)id >= (uint)size) continue;
                tokens[id] = content;
                types[id] = special || content.StartsWith("<|", StringComparison.Ordinal) && content.EndsWith("|>", StringComparison.Ordinal) ? 3 : 4;
                byContent[content] = id;
            }
        for (int i = 0; i < size; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = 5; }
        foreach (var (tok, idNode) in vocab) byContent.TryAdd(tok, idNode!.GetValue<int>());

        var merges = new List<string>();
        if (model["merges"] is JsonArray ms)
            foreach (var m in ms)
                merges.Add(m is JsonArray pair ? $"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}" : m!.GetValue<string>());

        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", "qwen2");
        w.Add("tokenizer.ggml.tokens", tokens.Select(t => t!).ToArray());
        w.Add("tokenizer.ggml.token_type", types);
        w.Add("tokenizer.ggml.merges", merges.ToArray());

        string cfgPath = Path.Combine(dir, "tokenizer_config.json");
        string? template = null;
        if (File.Exists(cfgPath))
        {
            var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!.AsObject();
            string? Tok(string key) => cfg[key] switch { JsonValue v when v.TryGetValue(out string? s) => s, JsonObject o => o["content"]?.GetValue<string>(), _ => null };
            if (Tok("eos_token") is { } eos && byContent.TryGetValue(eos, out int eosId)) w.Add("tokenizer.ggml.eos_token_id", (uint)eosId);
            if (Tok("pad_token") is { } pad && byContent.TryGetValue(pad, out int padId))
            {
                w.Add("tokenizer.ggml.padding_token_id", (uint)padId);
                w.Add("tokenizer.ggml.bos_token_id", (uint)padId); // llama.cpp's converter: bos = <|endoftext|> for Qwen
            }
            w.Add("tokenizer.ggml.add_bos_token", false);
            if (cfg["chat_template"] is JsonValue tv && tv.TryGetValue(out string? t)) template = t;
        }
        string jinja = Path.Combine(dir, "chat_template.jinja");
        if (File.Exists(jinja)) template = File.ReadAllText(jinja);
        if (template != null) w.Add("tokenizer.chat_template", template);
    }
}
