using System.IO.Compression;
using System.Text.Json.Nodes;
using QwenSharp.Formats;

namespace QwenSharp.Bench;

/// <summary>
/// A random-weight model with Qwen2.5-0.5B-Instruct's real shape (24 layers, hidden 896, 14 heads / 2 KV
/// heads, FFN 4864, vocab 151936, tied embeddings, q/k/v biases) as a Hugging Face folder: bf16
/// model.safetensors, Qwen's real tokenizer (tests/fixtures/tokenizer/qwen3), Qwen2.5's chat template.
/// The output is gibberish; the work per token is the real model's.
/// </summary>
public static class ServerBenchModel
{
    public static readonly JsonObject Config = new()
    {
        ["architectures"] = new JsonArray("Qwen2ForCausalLM"), ["model_type"] = "qwen2", ["hidden_size"] = 896,
        ["num_hidden_layers"] = 24, ["num_attention_heads"] = 14, ["num_key_value_heads"] = 2, ["intermediate_size"] = 4864,
        ["vocab_size"] = 151936, ["tie_word_embeddings"] = true, ["rope_theta"] = 1000000.0, ["rms_norm_eps"] = 1e-6,
        ["max_position_embeddings"] = 32768, ["hidden_act"] = "silu", ["bos_token_id"] = 151643, ["eos_token_id"] = 151645,
        ["torch_dtype"] = "bfloat16", ["use_sliding_window"] = false,
    };

    /// <summary>Writes the model into <paramref name="dir"/> unless it is already there; returns the folder.</summary>
    public static string Ensure(string dir, string repoRoot)
    {
        if (File.Exists(Path.Combine(dir, "model.safetensors"))) return dir;
        Directory.CreateDirectory(dir);
        Console.WriteLine($"writing a random-weight Qwen2.5-0.5B-shaped model to {dir} ...");
        string fixtures = Path.Combine(repoRoot, "tests", "fixtures");
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(fixtures, "tokenizer", "qwen3", "tokenizer.json.gz")), CompressionMode.Decompress))
        using (var output = File.Create(Path.Combine(dir, "tokenizer.json")))
            gz.CopyTo(output);
        var tokenizerConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(fixtures, "tokenizer", "qwen3", "tokenizer_config.json")))!.AsObject();
        tokenizerConfig["chat_template"] = File.ReadAllText(Path.Combine(fixtures, "templates", "qwen2.5-instruct.jinja"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "generation_config.json"),
            """{"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": true, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}""");
        File.WriteAllText(Path.Combine(dir, "config.json"), Config.ToJsonString(new() { WriteIndented = true }));
        WriteWeights(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    static void WriteWeights(string path)
    {
        int hidden = 896, layers = 24, heads = 14, kvHeads = 2, inter = 4864, vocab = 151936, hd = hidden / heads;
        ulong state = 0x9E3779B97F4A7C15UL;
        // Roughly normal values (sum of three uniforms) with a given spread: xorshift, fast enough for 0.5 B weights.
        float Next(float std)
        {
            float sum = 0;
            for (int i = 0; i < 3; i++)
            {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                sum += (state >> 40) * (1f / (1 << 24));
            }
            return (sum - 1.5f) * 2 * std;
        }
        var w = new SafetensorsWriter();
        void Mat(string name, int rows, int cols, float std)
        {
            var v = new float[(long)rows * cols];
            for (long i = 0; i < v.Length; i++) v[i] = Next(std);
            w.AddBF16(name, v, rows, cols);
        }
        void Vec(string name, int n, float center, float std)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = center + Next(std);
            w.AddBF16(name, v, n);
        }
        Mat("model.embed_tokens.weight", vocab, hidden, 0.02f);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}";
            Vec($"{p}.input_layernorm.weight", hidden, 1f, 0.05f);
            Vec($"{p}.post_attention_layernorm.weight", hidden, 1f, 0.05f);
            Mat($"{p}.self_attn.q_proj.weight", heads * hd, hidden, 0.02f);
            Vec($"{p}.self_attn.q_proj.bias", heads * hd, 0f, 0.02f);
            Mat($"{p}.self_attn.k_proj.weight", kvHeads * hd, hidden, 0.02f);
            Vec($"{p}.self_attn.k_proj.bias", kvHeads * hd, 0f, 0.02f);
            Mat($"{p}.self_attn.v_proj.weight", kvHeads * hd, hidden, 0.02f);
            Vec($"{p}.self_attn.v_proj.bias", kvHeads * hd, 0f, 0.02f);
            Mat($"{p}.self_attn.o_proj.weight", hidden, heads * hd, 0.02f);
            Mat($"{p}.mlp.gate_proj.weight", inter, hidden, 0.02f);
            Mat($"{p}.mlp.up_proj.weight", inter, hidden, 0.02f);
            Mat($"{p}.mlp.down_proj.weight", hidden, inter, 0.02f);
        }
        Vec("model.norm.weight", hidden, 1f, 0.05f);
        w.Write(path);
    }
}
