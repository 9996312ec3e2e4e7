using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Lora;
using QwenSharp.Models;
using static QwenSharp.Tests.Lora.LoraTestSupport;

namespace QwenSharp.Tests.Lora;

/// <summary>
/// PEFT's adapter files (names, tensor names, shapes, config keys as PEFT's checkpoint-format guide lists
/// them) and llama.cpp's GGUF LoRA files (keys and tensor layout of convert_lora_to_gguf.py /
/// llama-adapter.cpp), read, written and rejected with clear errors.
/// </summary>
public class AdapterFormatTests
{
    static ModelConfig Qwen3 => ModelConfig.FromConfigJson(Path.Combine(ModelDir("qwen3-tiny"), "config.json"));

    // The keys of PEFT's LoRA adapter_config.json example in docs/source/developer_guides/checkpoint.md.
    static readonly string[] PeftKeys =
    [
        "alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights",
        "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha", "lora_dropout", "megatron_config",
        "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern", "revision", "target_modules", "task_type", "use_dora", "use_rslora",
    ];

    static void AssertSame(LoraAdapter a, LoraAdapter b)
    {
        Assert.Equal(a.Modules.Keys, b.Modules.Keys);
        foreach (var (k, w) in a.Modules)
        {
            var v = b.Modules[k];
            Assert.Equal(w.Rank, v.Rank);
            Assert.Equal(w.Scale, v.Scale, 5);
            Assert.Equal(w.A, v.A);
            Assert.Equal(w.B, v.B);
        }
    }

    [Fact]
    public void PeftFilesRoundTrip()
    {
        string dir = TestPaths.NewTempDir();
        var adapter = RandomAdapter(Qwen3, "a", seed: 1, rank: 4, alpha: 16, targets: ["q_proj", "v_proj", "down_proj"]);
        adapter.Save(dir);
        Assert.Equal(["adapter_config.json", "adapter_model.safetensors"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order().ToArray());
        var cfg = ReadJson(Path.Combine(dir, "adapter_config.json"));
        Assert.Equal(PeftKeys.Order(StringComparer.Ordinal), cfg.Select(kv => kv.Key).Order(StringComparer.Ordinal));
        Assert.Equal("LORA", cfg["peft_type"]!.GetValue<string>());
        Assert.Equal(4, cfg["r"]!.GetValue<int>());
        Assert.Equal(16, cfg["lora_alpha"]!.GetValue<int>());
        Assert.Equal("none", cfg["bias"]!.GetValue<string>());
        Assert.Equal(["down_proj", "q_proj", "v_proj"], cfg["target_modules"]!.AsArray().Select(n => n!.GetValue<string>()));
        using (var st = new SafetensorsFile(Path.Combine(dir, "adapter_model.safetensors")))
        {
            Assert.Equal(2 * 3 * 2, st.Tensors.Count);
            Assert.True(st.TryGetTensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", out var a));
            Assert.Equal("F32", a.DType);
            Assert.Equal(new long[] { 4, 256 }, a.Shape);
            Assert.True(st.TryGetTensor("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", out var b));
            Assert.Equal(new long[] { 256, 4 }, b.Shape);
            Assert.Equal("pt", st.Metadata["format"]);
        }
        var back = LoraAdapter.Load(dir);
        AssertSame(adapter, back);
        Assert.Equal(4f, back.Modules["model.layers.0.self_attn.q_proj"].Scale); // alpha / r
        Assert.Equal(Path.GetFileName(dir), back.Name);
        Assert.Equal("x", LoraAdapter.Load(Path.Combine(dir, "adapter_model.safetensors"), "x").Name);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void ScalesFollowRsloraAndPatterns()
    {
        string dir = TestPaths.NewTempDir();
        RandomAdapter(Qwen3, "a", seed: 2, rank: 4, targets: ["q_proj", "k_proj"]).Save(dir);
        var cfg = ReadJson(Path.Combine(dir, "adapter_config.json"));
        cfg["use_rslora"] = true;
        cfg["lora_alpha"] = 8;
        cfg["alpha_pattern"] = new JsonObject { ["k_proj"] = 2 };
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), cfg.ToJsonString());
        var a = LoraAdapter.Load(dir);
        Assert.Equal(8 / 2f, a.Modules["model.layers.1.self_attn.q_proj"].Scale, 6);   // alpha / sqrt(r)
        Assert.Equal(2 / 2f, a.Modules["model.layers.1.self_attn.k_proj"].Scale, 6);   // alpha_pattern
        Directory.Delete(dir, true);
    }

    [Fact]
    public void GgufLoraFilesAsLlamaCppWritesThem()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "a.gguf");
        var adapter = RandomAdapter(Qwen3, "a", seed: 3, rank: 4, alpha: 8, rslora: true);
        adapter.SaveGguf(path, Qwen3);
        using (var g = new GgufFile(path))
        {
            Assert.Equal("adapter", g.GetString("general.type"));
            Assert.Equal("lora", g.GetString("adapter.type"));
            Assert.Equal("qwen3", g.GetString("general.architecture"));
            // llama.cpp scales by alpha / r and knows no rsLoRA: alpha is written as alpha·sqrt(r).
            Assert.Equal(8 * 2.0, g.GetFloat("adapter.lora.alpha")!.Value, 5);
            Assert.True(g.TryGetTensor("blk.0.attn_q.weight.lora_a", out var a));
            Assert.Equal(new long[] { 4, 256 }, a.Shape);   // ne = [in, r]
            Assert.True(g.TryGetTensor("blk.1.ffn_down.weight.lora_b", out var b));
            Assert.Equal(new long[] { 256, 4 }, b.Shape);   // ne = [r, out]
            Assert.Equal(2 * 7 * 2, g.Tensors.Count);
        }
        AssertSame(adapter, LoraAdapter.Load(path));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void GgufLoraWithStackedExperts()
    {
        // Written by hand as llama.cpp's converter stacks MoE experts: lora_a [experts, r, in], lora_b [experts, out, r].
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "moe.gguf");
        var c = ModelConfig.FromConfigJson(Path.Combine(ModelDir("qwen3moe-tiny"), "config.json"));
        int e = c.NumExperts, r = 2, h = c.HiddenSize, inter = c.MoeIntermediateSize;
        var a = Enumerable.Range(0, e * r * h).Select(i => (float)Math.Sin(i)).ToArray();
        var b = Enumerable.Range(0, e * inter * r).Select(i => (float)Math.Cos(i)).ToArray();
        new GgufWriter().Add("general.architecture", "qwen3moe").Add("general.type", "adapter").Add("adapter.type", "lora").Add("adapter.lora.alpha", 4f)
            .AddTensor("blk.0.ffn_up_exps.weight.lora_a", a, e, r, h).AddTensor("blk.0.ffn_up_exps.weight.lora_b", b, e, inter, r).Write(path);
        var adapter = LoraAdapter.Load(path);
        adapter.Validate(c);
        Assert.Equal(e, adapter.Modules.Count);
        var w = adapter.Modules["model.layers.0.mlp.experts.2.up_proj"];
        Assert.Equal(2f, w.Scale);
        Assert.Equal(a[2 * r * h + h + 5], w.A[h + 5]);
        Assert.Equal(b[2 * inter * r + 3], w.B[3]);
        // And written back the same way.
        string back = Path.Combine(dir, "back.gguf");
        adapter.SaveGguf(back, c);
        using var g = new GgufFile(back);
        Assert.True(g.TryGetTensor("blk.0.ffn_up_exps.weight.lora_a", out var t));
        Assert.Equal(new long[] { e, r, h }, t.Shape);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void BadAdaptersGetClearErrors()
    {
        string dir = TestPaths.NewTempDir();
        Assert.Contains("adapter_config.json", Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(dir)).Message);
        RandomAdapter(Qwen3, "a", seed: 4, targets: ["q_proj"]).Save(dir);
        string cfgPath = Path.Combine(dir, "adapter_config.json");
        var good = File.ReadAllText(cfgPath);

        void WithConfig(Action<JsonObject> change, string expected)
        {
            var o = JsonNode.Parse(good)!.AsObject();
            change(o);
            File.WriteAllText(cfgPath, o.ToJsonString());
            var e = Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(dir));
            Assert.Contains(expected, e.Message);
            Assert.Contains(cfgPath, e.Message);
        }
        WithConfig(o => o["use_dora"] = true, "DoRA");
        WithConfig(o => o["bias"] = "all", "bias 'all'");
        WithConfig(o => o["peft_type"] = "IA3", "IA3");
        WithConfig(o => o["r"] = "eight", "'r' must be a number");
        File.WriteAllText(cfgPath, "{not json");
        Assert.Contains("not valid JSON", Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(dir)).Message);
        File.WriteAllText(cfgPath, good);

        // A lora_A without its lora_B, and an embedding tensor.
        new SafetensorsWriter().AddF32("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", new float[2 * 256], 2, 256)
            .Write(Path.Combine(dir, "adapter_model.safetensors"));
        Assert.Contains("lora_B missing", Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(dir)).Message);
        new SafetensorsWriter().AddF32("base_model.model.model.embed_tokens.lora_embedding_A", new float[4], 2, 2)
            .Write(Path.Combine(dir, "adapter_model.safetensors"));
        Assert.Contains("embedding", Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(dir)).Message);
        File.Delete(Path.Combine(dir, "adapter_model.safetensors"));
        Assert.Contains("adapter_model.safetensors", Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(dir)).Message);

        // A GGUF model is not an adapter.
        string model = Path.Combine(dir, "m.gguf");
        new GgufWriter().Add("general.architecture", "qwen3").Add("general.type", "model").AddTensor("token_embd.weight", new float[4], 2, 2).Write(model);
        Assert.Contains("not a LoRA file", Assert.Throws<ModelFormatException>(() => LoraAdapter.Load(model)).Message);
        Assert.Throws<FileNotFoundException>(() => LoraAdapter.Load(Path.Combine(dir, "nothing")));
        Directory.Delete(dir, true);
    }
}
