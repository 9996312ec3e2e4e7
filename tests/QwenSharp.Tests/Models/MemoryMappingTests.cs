using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>Weights are memory-mapped: loading does not read them; memory grows only as they are touched.</summary>
public class MemoryMappingTests
{
    static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("no VmRSS");
    }

    /// <summary>A Qwen3-shaped GGUF of about 1.2 GB whose tensor data is a sparse hole (no disk use, reads as zeros).</summary>
    static string SparseModel(string dir)
    {
        var config = new ModelConfig
        {
            ModelType = "qwen3", HiddenSize = 2048, IntermediateSize = 6144, NumHiddenLayers = 8, NumAttentionHeads = 16,
            NumKeyValueHeads = 8, HeadDim = 128, VocabSize = 32768, QkNorm = true, TieWordEmbeddings = true,
        };
        var w = new GgufWriter();
        GgufExport.AddConfigMetadata(w, config, "sparse", 0);
        void Add(string name, params long[] shape) =>
            w.AddTensor(name, GgmlType.F32, shape, s => s.Seek(shape.Aggregate(4L, (a, b) => a * b), SeekOrigin.Current));
        Add("token_embd.weight", 32768, 2048);
        for (int l = 0; l < 8; l++)
        {
            Add($"blk.{l}.attn_norm.weight", 2048); Add($"blk.{l}.ffn_norm.weight", 2048);
            Add($"blk.{l}.attn_q.weight", 2048, 2048); Add($"blk.{l}.attn_k.weight", 1024, 2048);
            Add($"blk.{l}.attn_v.weight", 1024, 2048); Add($"blk.{l}.attn_output.weight", 2048, 2048);
            Add($"blk.{l}.attn_q_norm.weight", 128); Add($"blk.{l}.attn_k_norm.weight", 128);
            Add($"blk.{l}.ffn_gate.weight", 6144, 2048); Add($"blk.{l}.ffn_up.weight", 6144, 2048); Add($"blk.{l}.ffn_down.weight", 2048, 6144);
        }
        Add("output_norm.weight", 2048);
        string path = Path.Combine(dir, "sparse.gguf");
        using (var fs = new FileStream(path, FileMode.Create))
        {
            w.WriteTo(fs);
            fs.SetLength(fs.Position);
        }
        return path;
    }

    [Fact]
    public void LoadingMapsWeightsWithoutReadingThem()
    {
        var dir = TestPaths.NewTempDir();
        try
        {
            string path = SparseModel(dir);
            long size = new FileInfo(path).Length;
            Assert.True(size > 1_000_000_000);
            GC.Collect();
            long before = ResidentBytes();
            using var model = QwenModel.Load(path);
            long after = ResidentBytes();
            Assert.Equal(8, model.Layers.Count);
            // Only norms and metadata are read: far less than 1% of the file.
            Assert.True(after - before < size / 100, $"resident memory grew by {after - before} bytes for a {size}-byte file");

            // Touching one layer's weights pages in about that much, not the whole file.
            var row = new float[2048];
            var q = model.Layers[0].SelfAttn.QProj.Weight;
            for (int r = 0; r < q.Rows; r++) q.DequantizeRow(r, row);
            long touched = ResidentBytes();
            Assert.True(touched - after >= q.ByteSize / 2, "reading a matrix should page it in");
            Assert.True(touched - after < q.ByteSize * 3, $"reading one matrix grew resident memory by {touched - after} bytes");
        }
        finally { Directory.Delete(dir, true); }
    }
}
