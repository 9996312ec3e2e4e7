using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>One golden case of tests/fixtures/tokenizer/cases.jsonl (ids and decodes from Hugging Face tokenizers).</summary>
public sealed record GoldenCase(string Id, string Category, string Text, int[] Ids, string[] Tokens, string Decoded, string DecodedSkipSpecial);

/// <summary>The tokenizer fixtures (tests/fixtures/tokenizer), unpacked once per test run.</summary>
public static class TokenizerFixtures
{
    public static string Root => Path.Combine(TestPaths.Fixtures, "tokenizer");

    static readonly Lazy<string> _qwen3Dir = new(() =>
    {
        var dir = TestPaths.NewTempDir();
        Gunzip(Path.Combine(Root, "qwen3", "tokenizer.json.gz"), Path.Combine(dir, "tokenizer.json"));
        File.Copy(Path.Combine(Root, "qwen3", "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        File.Copy(Path.Combine(Root, "qwen3", "generation_config.json"), Path.Combine(dir, "generation_config.json"));
        return dir;
    });

    /// <summary>A Hugging Face folder with the Qwen3 tokenizer.json, tokenizer_config.json and generation_config.json.</summary>
    public static string Qwen3Dir => _qwen3Dir.Value;
    public static string Qwen3Json => Path.Combine(Qwen3Dir, "tokenizer.json");

    static readonly Lazy<QwenTokenizer> _qwen3 = new(() => QwenTokenizer.FromDirectory(Qwen3Dir));
    public static QwenTokenizer Qwen3 => _qwen3.Value;

    static readonly Lazy<string> _qwen25Dir = new(() =>
    {
        // The README's recipe: Qwen2.5's tokenizer.json is Qwen3's without the added tokens from id 151665 on.
        var dir = TestPaths.NewTempDir();
        var root = JsonNode.Parse(File.ReadAllText(Qwen3Json))!;
        var added = root["added_tokens"]!.AsArray();
        foreach (var t in added.Where(t => t!["id"]!.GetValue<int>() >= 151665).ToList()) added.Remove(t);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), root.ToJsonString());
        return dir;
    });
    public static string Qwen25Dir => _qwen25Dir.Value;

    static readonly Lazy<QwenTokenizer> _qwen25 = new(() => QwenTokenizer.FromDirectory(Qwen25Dir));
    public static QwenTokenizer Qwen25 => _qwen25.Value;

    static readonly Lazy<string> _qwen3Gguf = new(() =>
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "qwen3-vocab.gguf");
        GgufVocabularyBuilder.FromTokenizerJson(Qwen3Json, Path.Combine(Qwen3Dir, "tokenizer_config.json")).Write(path);
        return path;
    });
    /// <summary>A GGUF holding only the tokenizer metadata, built from the Qwen3 tokenizer.json.</summary>
    public static string Qwen3GgufPath => _qwen3Gguf.Value;

    static readonly Lazy<QwenTokenizer> _qwen3FromGguf = new(() =>
    {
        using var g = new GgufFile(Qwen3GgufPath);
        return QwenTokenizer.FromGguf(g);
    });
    public static QwenTokenizer Qwen3FromGguf => _qwen3FromGguf.Value;

    static readonly Lazy<QwenTokenizer> _qwen25FromGguf = new(() =>
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "qwen25-vocab.gguf");
        GgufVocabularyBuilder.FromTokenizerJson(Path.Combine(Qwen25Dir, "tokenizer.json")).Write(path);
        using var g = new GgufFile(path);
        return QwenTokenizer.FromGguf(g);
    });
    /// <summary>The Qwen2.5 added-token set, from a GGUF built from its tokenizer.json.</summary>
    public static QwenTokenizer Qwen25FromGguf => _qwen25FromGguf.Value;

    /// <summary>The 512-token tokenizer of the tiny fixture models (tests/fixtures/tokenizer/tiny).</summary>
    public static string TinyDir => Path.Combine(Root, "tiny");

    static readonly Lazy<IReadOnlyList<GoldenCase>> _cases = new(() => ReadCases(Path.Combine(Root, "cases.jsonl.gz")));
    public static IReadOnlyList<GoldenCase> Cases => _cases.Value;
    static readonly Lazy<IReadOnlyList<GoldenCase>> _qwen25Cases = new(() => ReadCases(Path.Combine(Root, "qwen2.5", "cases.jsonl")));
    public static IReadOnlyList<GoldenCase> Qwen25Cases => _qwen25Cases.Value;

    public static IReadOnlyList<GoldenCase> ReadCases(string path)
    {
        using var stream = OpenMaybeGzip(path);
        using var reader = new StreamReader(stream);
        var list = new List<GoldenCase>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            var o = JsonDocument.Parse(line).RootElement;
            list.Add(new GoldenCase(
                o.GetProperty("id").GetString()!,
                o.GetProperty("category").GetString()!,
                o.GetProperty("text").GetString()!,
                o.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                o.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                o.GetProperty("decoded").GetString()!,
                o.GetProperty("decoded_skip_special").GetString()!));
        }
        return list;
    }

    static Stream OpenMaybeGzip(string path)
    {
        var fs = File.OpenRead(path);
        return path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(fs, CompressionMode.Decompress) : fs;
    }

    public static void Gunzip(string gz, string output)
    {
        using var src = new GZipStream(File.OpenRead(gz), CompressionMode.Decompress);
        using var dst = File.Create(output);
        src.CopyTo(dst);
    }
}

/// <summary>
/// Builds a GGUF holding a tokenizer the way llama.cpp's converter writes one from a tokenizer.json:
/// tokenizer.ggml.model = gpt2, pre = qwen2, tokens (index = id; ids no token uses are "[PAD{id}]" rows),
/// token_type (1 normal; 3 control for special added tokens and for added tokens that look like &lt;|...|&gt;;
/// 4 user-defined for the other added tokens; 5 unused for the padding rows), merges as "a b" strings,
/// bos/eos/padding ids from tokenizer_config.json. Test data only; written independently of the loader.
/// </summary>
public static class GgufVocabularyBuilder
{
    public static GgufWriter FromTokenizerJson(string tokenizerJson, string? tokenizerConfig = null, int padTo = 0)
    {
        var root = JsonNode.Parse(File.ReadAllText(tokenizerJson))!;
        var model = root["model"]!;
        var vocab = model["vocab"]!.AsObject();
        var added = root["added_tokens"]!.AsArray();
        int size = Math.Max(padTo, Math.Max(vocab.Max(kv => kv.Value!.GetValue<int>()), added.Max(t => t!["id"]!.GetValue<int>())) + 1);
        var tokens = new string[size];
        var types = new int[size];
        foreach (var (tok, id) in vocab) { tokens[id!.GetValue<int>()] = tok; types[id.GetValue<int>()] = 1; }
        foreach (var t in added)
        {
            int id = t!["id"]!.GetValue<int>();
            string content = t["content"]!.GetValue<string>();
            bool special = t["special"]!.GetValue<bool>();
            bool looksSpecial = content.StartsWith("<|") && content.EndsWith("|>");
            tokens[id] = content;
            types[id] = special || looksSpecial ? 3 : 4;
        }
        for (int i = 0; i < size; i++)
            if (tokens[i] == null) { tokens[i] = $"[PAD{i}]"; types[i] = 5; }
        var merges = model["merges"]!.AsArray().Select(m => m is JsonArray pair
            ? pair[0]!.GetValue<string>() + " " + pair[1]!.GetValue<string>()
            : m!.GetValue<string>()).ToArray();

        var w = new GgufWriter()
            .Add("general.architecture", "qwen3")
            .Add("tokenizer.ggml.model", "gpt2")
            .Add("tokenizer.ggml.pre", "qwen2")
            .Add("tokenizer.ggml.tokens", tokens)
            .Add("tokenizer.ggml.token_type", types)
            .Add("tokenizer.ggml.merges", merges);
        if (tokenizerConfig != null)
        {
            var cfg = JsonNode.Parse(File.ReadAllText(tokenizerConfig))!;
            int IdOf(string s) => Array.IndexOf(tokens, s);
            if (cfg["eos_token"]?.GetValue<string>() is { } eos) w.Add("tokenizer.ggml.eos_token_id", (uint)IdOf(eos));
            if (cfg["pad_token"]?.GetValue<string>() is { } pad)
            {
                w.Add("tokenizer.ggml.padding_token_id", (uint)IdOf(pad));
                w.Add("tokenizer.ggml.bos_token_id", (uint)IdOf(pad)); // llama.cpp's converter: bos = <|endoftext|> for Qwen
            }
            w.Add("tokenizer.ggml.add_bos_token", false);
            if (cfg["chat_template"]?.GetValue<string>() is { } tpl) w.Add("tokenizer.chat_template", tpl);
        }
        return w;
    }
}
