using System.Text.Json.Nodes;
using QwenSharp.Cli.Commands;
using QwenSharp.Formats;

namespace QwenSharp.Bench;

/// <summary>
/// Random-weight models of the real Qwen2.5-0.5B and Qwen3-0.6B shapes: a Hugging Face folder (config.json,
/// bf16 model.safetensors, a synthetic byte-level tokenizer.json with Qwen's special-token ids) and GGUF files
/// written by `qwensharp quantize` (our GGUF writer and quantizers), which llama.cpp then loads.
/// </summary>
public sealed class BenchmarkModels : IBenchmark
{
    public string Name => "create-models";
    public string Description => "Write random-weight Qwen2.5-0.5B / Qwen3-0.6B shaped models: --out DIR [--shapes qwen2.5-0.5b,qwen3-0.6b] [--types Q8_0,Q4_K_M]";

    public static readonly Dictionary<string, JsonObject> Shapes = new()
    {
        ["qwen2.5-0.5b"] = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen2ForCausalLM"), ["model_type"] = "qwen2", ["hidden_size"] = 896,
            ["num_hidden_layers"] = 24, ["num_attention_heads"] = 14, ["num_key_value_heads"] = 2, ["intermediate_size"] = 4864,
            ["vocab_size"] = 151936, ["tie_word_embeddings"] = true, ["rope_theta"] = 1000000.0, ["rms_norm_eps"] = 1e-6,
            ["max_position_embeddings"] = 32768, ["hidden_act"] = "silu", ["bos_token_id"] = 151643, ["eos_token_id"] = 151645,
            ["torch_dtype"] = "bfloat16", ["use_sliding_window"] = false,
        },
        ["qwen3-0.6b"] = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen3ForCausalLM"), ["model_type"] = "qwen3", ["hidden_size"] = 1024,
            ["num_hidden_layers"] = 28, ["num_attention_heads"] = 16, ["num_key_value_heads"] = 8, ["head_dim"] = 128,
            ["intermediate_size"] = 3072, ["vocab_size"] = 151936, ["tie_word_embeddings"] = true, ["rope_theta"] = 1000000.0,
            ["rms_norm_eps"] = 1e-6, ["max_position_embeddings"] = 40960, ["hidden_act"] = "silu", ["attention_bias"] = false,
            ["bos_token_id"] = 151643, ["eos_token_id"] = 151645, ["torch_dtype"] = "bfloat16", ["use_sliding_window"] = false,
        },
    };

    public int Run(string[] args)
    {
        var a = new BenchArgs(args);
        string outDir = a.Get("out") ?? throw new ArgumentException("--out DIR is required");
        Directory.CreateDirectory(outDir);
        foreach (var shape in a.Get("shapes", "qwen2.5-0.5b,qwen3-0.6b").Split(','))
        {
            string hf = Path.Combine(outDir, shape);
            if (!File.Exists(Path.Combine(hf, "model.safetensors")))
            {
                Console.WriteLine($"{shape}: writing random bf16 weights to {hf}");
                WriteHf(hf, Shapes[shape]);
            }
            foreach (var type in a.Get("types", "Q8_0,Q4_K_M").Split(','))
            {
                string gguf = Path.Combine(outDir, $"{shape}-{type}.gguf");
                if (File.Exists(gguf)) continue;
                var sw = System.Diagnostics.Stopwatch.StartNew();
                QuantizeCommand.Run(hf, type, gguf);
                Console.WriteLine($"{shape}: {gguf} ({new FileInfo(gguf).Length / 1e6:F0} MB) in {sw.Elapsed.TotalSeconds:F0} s");
            }
        }
        return 0;
    }

    static void WriteHf(string dir, JsonObject config)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(new() { WriteIndented = true }));
        int hidden = (int)config["hidden_size"]!, layers = (int)config["num_hidden_layers"]!, heads = (int)config["num_attention_heads"]!;
        int kv = (int)config["num_key_value_heads"]!, inter = (int)config["intermediate_size"]!, vocab = (int)config["vocab_size"]!;
        int hd = config["head_dim"] is { } h ? (int)h : hidden / heads;
        bool qwen3 = (string)config["model_type"]! == "qwen3";
        var rng = new Random(42);
        var w = new SafetensorsWriter();
        void Mat(string name, int rows, int cols, float std)
        {
            var v = new float[(long)rows * cols];
            for (long i = 0; i < v.Length; i++) v[i] = (float)((rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5) * 2 * std);
            w.AddBF16(name, v, rows, cols);
        }
        void Vec(string name, int n, float center, float spread)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = center + (float)(rng.NextDouble() - 0.5) * 2 * spread;
            w.AddBF16(name, v, n);
        }
        Mat("model.embed_tokens.weight", vocab, hidden, 0.02f);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}";
            Vec($"{p}.input_layernorm.weight", hidden, 1f, 0.1f);
            Vec($"{p}.post_attention_layernorm.weight", hidden, 1f, 0.1f);
            Mat($"{p}.self_attn.q_proj.weight", heads * hd, hidden, 0.02f);
            Mat($"{p}.self_attn.k_proj.weight", kv * hd, hidden, 0.02f);
            Mat($"{p}.self_attn.v_proj.weight", kv * hd, hidden, 0.02f);
            Mat($"{p}.self_attn.o_proj.weight", hidden, heads * hd, 0.02f);
            if (qwen3)
            {
                Vec($"{p}.self_attn.q_norm.weight", hd, 1f, 0.1f);
                Vec($"{p}.self_attn.k_norm.weight", hd, 1f, 0.1f);
            }
            else
            {
                Vec($"{p}.self_attn.q_proj.bias", heads * hd, 0f, 0.02f);
                Vec($"{p}.self_attn.k_proj.bias", kv * hd, 0f, 0.02f);
                Vec($"{p}.self_attn.v_proj.bias", kv * hd, 0f, 0.02f);
            }
            Mat($"{p}.mlp.gate_proj.weight", inter, hidden, 0.02f);
            Mat($"{p}.mlp.up_proj.weight", inter, hidden, 0.02f);
            Mat($"{p}.mlp.down_proj.weight", hidden, inter, 0.02f);
        }
        Vec("model.norm.weight", hidden, 1f, 0.1f);
        w.Write(Path.Combine(dir, "model.safetensors"));
        WriteTokenizer(dir, vocab);
    }

    /// <summary>A synthetic tokenizer.json: plain ASCII tokens plus Qwen's special tokens at their real ids.</summary>
    static void WriteTokenizer(string dir, int vocabSize)
    {
        var vocab = new JsonObject();
        for (int i = 0; i < 151643; i++) vocab[$"t{i}"] = i;
        var added = new JsonArray();
        string[] specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        for (int i = 0; i < specials.Length; i++) added.Add(new JsonObject { ["id"] = 151643 + i, ["content"] = specials[i], ["special"] = true });
        var root = new JsonObject { ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray() }, ["added_tokens"] = added };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), root.ToJsonString());
    }
}
