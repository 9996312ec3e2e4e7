using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp quantize --model PATH --type Q8_0|Q4_0|Q4_K_M|Q5_K_M|Q6_K --out FILE.gguf`: writes a
/// quantized GGUF (llama.cpp's quantizers and per-tensor mixture rules) from a Hugging Face folder or a
/// GGUF file. Metadata of a GGUF source is carried over; a Hugging Face folder's tokenizer.json becomes
/// the GGUF tokenizer metadata llama.cpp reads.
/// </summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model();
        var type = new Option<string>("--type") { Description = $"Quantization: {string.Join(", ", QuantizedEncoder.Schemes)}", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The GGUF file to write (atomically)", Required = true };
        var cmd = new Command("quantize", "Write a quantized GGUF (Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, ...) that llama.cpp and qwensharp load") { model, type, output };
        cmd.SetAction(r =>
        {
            string scheme = r.GetValue(type)!;
            if (!QuantizedEncoder.Schemes.Contains(scheme, StringComparer.OrdinalIgnoreCase))
                throw new CliException($"--type: '{scheme}' is not a quantization type ({string.Join(", ", QuantizedEncoder.Schemes)})", 2);
            string outPath = r.GetValue(output)!;
            var dir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(dir)) throw new CliException($"--out: folder '{dir}' does not exist", 2);
            var path = ModelResolver.Resolve(r.GetValue(model)!);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                Run(path, scheme, outPath);
            }
            catch (Exception e) when (e is ModelFormatException or NotSupportedException or IOException or UnauthorizedAccessException or FileNotFoundException)
            {
                throw new CliException(e.Message, 1);
            }
            var o = r.InvocationConfiguration.Output;
            o.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length / 1e6:F1} MB, {scheme}) in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }

    public static void Run(string modelPath, string scheme, string outPath)
    {
        var (kind, file) = ModelPath.Resolve(modelPath);
        if (kind == ModelPath.Kind.Gguf)
        {
            using var gguf = new GgufFile(file);
            var cfg = ModelConfig.FromGguf(gguf);
            using var src = WeightSource.OpenGguf(gguf);
            var enc = new QuantizedEncoder(scheme, cfg.NumHiddenLayers, src.TryGet("lm_head.weight", out _));
            GgufExport.Write(cfg, src, outPath, enc, gguf.GetString("general.name") ?? Path.GetFileNameWithoutExtension(file), w =>
            {
                foreach (var (k, v) in gguf.Metadata)
                    if (!k.StartsWith("general.", StringComparison.Ordinal) || k == "general.basename" || k == "general.size_label")
                        if (!IsArchKey(k, cfg)) w.Add(k, v);
            });
        }
        else
        {
            var cfg = ModelConfig.FromConfigJson(Path.Combine(file, "config.json"));
            using var src = WeightSource.OpenSafetensors(file);
            var enc = new QuantizedEncoder(scheme, cfg.NumHiddenLayers, !cfg.TieWordEmbeddings && src.TryGet("lm_head.weight", out _));
            GgufExport.Write(cfg, src, outPath, enc, Path.GetFileName(Path.TrimEndingDirectorySeparator(file)), w => AddTokenizer(w, file, cfg));
        }
    }

    // Keys AddConfigMetadata writes itself.
    static bool IsArchKey(string k, ModelConfig c) => k.StartsWith(c.GgufArchitecture + ".", StringComparison.Ordinal);

    /// <summary>GGUF tokenizer metadata (gpt2 BPE, as llama.cpp's converter writes for Qwen) from tokenizer.json.</summary>
    static void AddTokenizer(GgufWriter w, string dir, ModelConfig cfg)
    {
        string tj = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(tj)) return;
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(tj)) ?? throw new ModelFormatException(tj, "empty"); }
        catch (JsonException e) { throw new ModelFormatException(tj, $"not valid JSON: {e.Message}"); }
        int n = cfg.VocabSize;
        var tokens = new string[n];
        var types = new int[n];
        if (root["model"]?["vocab"] is JsonObject vocab)
            foreach (var (tok, id) in vocab)
            {
                int i = id!.GetValue<int>();
                if (i >= 0 && i < n) { tokens[i] = tok; types[i] = 1; }
            }
        int? endOfText = null, imEnd = null;
        if (root["added_tokens"] is JsonArray added)
            foreach (var a in added)
            {
                int i = a!["id"]!.GetValue<int>();
                if (i < 0 || i >= n) continue;
                string content = a["content"]!.GetValue<string>();
                tokens[i] = content;
                bool special = a["special"]?.GetValue<bool>() ?? false;
                types[i] = special || (content.StartsWith("<|") && content.EndsWith("|>")) ? 3 : 4;
                if (content == "<|endoftext|>") endOfText = i;
                if (content == "<|im_end|>") imEnd = i;
            }
        for (int i = 0; i < n; i++)
            if (tokens[i] == null) { tokens[i] = $"[PAD{i}]"; types[i] = 5; }
        var merges = new List<string>();
        if (root["model"]?["merges"] is JsonArray m)
            foreach (var e in m)
                merges.Add(e is JsonArray pair ? $"{pair[0]} {pair[1]}" : e!.GetValue<string>());
        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", "qwen2");
        w.Add("tokenizer.ggml.tokens", tokens);
        w.Add("tokenizer.ggml.token_type", types);
        w.Add("tokenizer.ggml.merges", merges.ToArray());
        if ((imEnd ?? endOfText) is int eos) w.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        if (endOfText is int eot)
        {
            w.Add("tokenizer.ggml.bos_token_id", (uint)eot);
            w.Add("tokenizer.ggml.padding_token_id", (uint)eot);
        }
        w.Add("tokenizer.ggml.add_bos_token", false);
        string tc = Path.Combine(dir, "tokenizer_config.json");
        if (File.Exists(tc) && JsonNode.Parse(File.ReadAllText(tc))?["chat_template"] is JsonValue t && t.TryGetValue<string>(out var template))
            w.Add("tokenizer.chat_template", template);
    }
}
