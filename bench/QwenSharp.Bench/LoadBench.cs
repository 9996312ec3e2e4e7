using System.Diagnostics;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Bench;

/// <summary>
/// Header parsing and model loading of a ~1.2 GB GGUF and safetensors file (sparse: the tensor data is a
/// hole, so the numbers show parsing and mapping, not disk speed), median of 5 runs.
/// </summary>
public sealed class LoadBench : IBenchmark
{
    public string Name => "load";
    public string Description => "header parse and model load time of a 1.2 GB GGUF / safetensors model (memory-mapped)";

    public int Run(string[] args)
    {
        string dir = Path.Combine(Path.GetTempPath(), "qwensharp-loadbench");
        Directory.CreateDirectory(dir);
        try
        {
            var cfg = new ModelConfig
            {
                ModelType = "qwen3", HiddenSize = 2048, IntermediateSize = 6144, NumHiddenLayers = 8, NumAttentionHeads = 16,
                NumKeyValueHeads = 8, HeadDim = 128, VocabSize = 32768, QkNorm = true, TieWordEmbeddings = true,
            };
            var shapes = new List<(string Gguf, string Hf, long[] Shape)> { ("token_embd.weight", "model.embed_tokens.weight", [32768, 2048]) };
            for (int l = 0; l < 8; l++)
            {
                void A(string g, string h, params long[] s) => shapes.Add(($"blk.{l}.{g}", $"model.layers.{l}.{h}", s));
                A("attn_norm.weight", "input_layernorm.weight", 2048); A("ffn_norm.weight", "post_attention_layernorm.weight", 2048);
                A("attn_q.weight", "self_attn.q_proj.weight", 2048, 2048); A("attn_k.weight", "self_attn.k_proj.weight", 1024, 2048);
                A("attn_v.weight", "self_attn.v_proj.weight", 1024, 2048); A("attn_output.weight", "self_attn.o_proj.weight", 2048, 2048);
                A("attn_q_norm.weight", "self_attn.q_norm.weight", 128); A("attn_k_norm.weight", "self_attn.k_norm.weight", 128);
                A("ffn_gate.weight", "mlp.gate_proj.weight", 6144, 2048); A("ffn_up.weight", "mlp.up_proj.weight", 6144, 2048);
                A("ffn_down.weight", "mlp.down_proj.weight", 2048, 6144);
            }
            shapes.Add(("output_norm.weight", "model.norm.weight", [2048]));

            string gguf = Path.Combine(dir, "m.gguf");
            var w = new GgufWriter();
            GgufExport.AddConfigMetadata(w, cfg, "loadbench", 0);
            foreach (var (g, _, s) in shapes) w.AddTensor(g, GgmlType.F32, s, st => st.Seek(s.Aggregate(4L, (a, b) => a * b), SeekOrigin.Current));
            using (var fs = new FileStream(gguf, FileMode.Create)) { w.WriteTo(fs); fs.SetLength(fs.Position); }

            // safetensors: header, then a sparse data region.
            string stDir = Path.Combine(dir, "hf");
            Directory.CreateDirectory(stDir);
            File.WriteAllText(Path.Combine(stDir, "config.json"),
                "{\"model_type\":\"qwen3\",\"hidden_size\":2048,\"intermediate_size\":6144,\"num_hidden_layers\":8,\"num_attention_heads\":16,\"num_key_value_heads\":8,\"head_dim\":128,\"vocab_size\":32768,\"tie_word_embeddings\":true}");
            var header = new System.Text.StringBuilder("{");
            long off = 0;
            foreach (var (_, h, s) in shapes)
            {
                long bytes = s.Aggregate(2L, (a, b) => a * b);
                header.Append($"\"{h}\":{{\"dtype\":\"BF16\",\"shape\":[{string.Join(",", s)}],\"data_offsets\":[{off},{off + bytes}]}},");
                off += bytes;
            }
            header.Length--;
            header.Append('}');
            var hb = System.Text.Encoding.UTF8.GetBytes(header.ToString());
            using (var fs = new FileStream(Path.Combine(stDir, "model.safetensors"), FileMode.Create))
            {
                fs.Write(BitConverter.GetBytes((ulong)hb.Length));
                fs.Write(hb);
                fs.SetLength(fs.Position + off);
            }

            double Median(Action a)
            {
                var t = new List<double>();
                for (int i = 0; i < 6; i++) { var sw = Stopwatch.StartNew(); a(); t.Add(sw.Elapsed.TotalMilliseconds); }
                t.RemoveAt(0); // warm-up
                t.Sort();
                return t[t.Count / 2];
            }
            long gsize = new FileInfo(gguf).Length, ssize = new FileInfo(Path.Combine(stDir, "model.safetensors")).Length;
            Console.WriteLine($"GGUF {gsize / 1e9:0.00} GB: header parse {Median(() => { using var g = new GgufFile(gguf); }):0.00} ms, model load {Median(() => { using var m = QwenModel.Load(gguf); }):0.0} ms");
            Console.WriteLine($"safetensors {ssize / 1e9:0.00} GB: header parse {Median(() => { using var f = new SafetensorsFile(Path.Combine(stDir, "model.safetensors")); }):0.00} ms, model load {Median(() => { using var m = QwenModel.Load(stDir); }):0.0} ms");
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }
}
