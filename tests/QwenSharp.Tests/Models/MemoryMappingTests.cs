using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>Weights are memory-mapped: loading does not read them; memory grows only as they are touched.
/// Runs alone (no other test allocating or mapping at the same time) and counts file-backed resident pages.</summary>
[Collection(QwenSharp.Tests.Samples.ConsoleCollection.Name)]
public class MemoryMappingTests
{
    static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("RssFile:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("no RssFile");
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

    static long StatusBytes(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":")) return long.Parse(line.Split(' ', '\t').Last(x => x.Length > 0 && char.IsDigit(x[0]))) * 1024;
        throw new InvalidOperationException($"no {field}");
    }

    /// <summary>A Qwen2-shaped Q8_0 GGUF of about 90 MB with random blocks, and a 150,000-string vocabulary.</summary>
    static string QuantizedModel(string dir)
    {
        const int hidden = 1024, inter = 2816, layers = 6, vocab = 16384;
        var config = new ModelConfig
        {
            ModelType = "qwen2", HiddenSize = hidden, IntermediateSize = inter, NumHiddenLayers = layers, NumAttentionHeads = 8,
            NumKeyValueHeads = 2, HeadDim = 128, VocabSize = vocab, AttentionBias = true, TieWordEmbeddings = true,
        };
        var w = new GgufWriter();
        GgufExport.AddConfigMetadata(w, config, "quantized", 7);
        w.Add("tokenizer.ggml.tokens", Enumerable.Range(0, 150_000).Select(i => $"token{i}").ToArray());
        var rng = new Random(5);
        void Q8(string name, long rows, long cols) => w.AddTensor(name, GgmlType.Q8_0, [rows, cols], st =>
        {
            var block = new byte[34];
            for (long b = 0; b < rows * cols / 32; b++)
            {
                rng.NextBytes(block);
                block[0] = 0x00; block[1] = 0x20; // fp16 scale 2^-7
                st.Write(block);
            }
        });
        void F32(string name, int n) => w.AddTensor(name, Enumerable.Repeat(1f, n).ToArray(), n);
        Q8("token_embd.weight", vocab, hidden);
        for (int l = 0; l < layers; l++)
        {
            F32($"blk.{l}.attn_norm.weight", hidden); F32($"blk.{l}.ffn_norm.weight", hidden);
            Q8($"blk.{l}.attn_q.weight", hidden, hidden); F32($"blk.{l}.attn_q.bias", hidden);
            Q8($"blk.{l}.attn_k.weight", 256, hidden); F32($"blk.{l}.attn_k.bias", 256);
            Q8($"blk.{l}.attn_v.weight", 256, hidden); F32($"blk.{l}.attn_v.bias", 256);
            Q8($"blk.{l}.attn_output.weight", hidden, hidden);
            Q8($"blk.{l}.ffn_gate.weight", inter, hidden); Q8($"blk.{l}.ffn_up.weight", inter, hidden); Q8($"blk.{l}.ffn_down.weight", hidden, inter);
        }
        F32("output_norm.weight", hidden);
        string path = Path.Combine(dir, "q8.gguf");
        using (var fs = new FileStream(path, FileMode.Create)) w.WriteTo(fs);
        return path;
    }

    /// <summary>
    /// A quantized file is repacked into native memory once, and the mapping's pages are dropped as that happens:
    /// the process never holds the weights twice (peak growth within 1.1 × the file), the file's pages do not stay
    /// resident (weights, metadata and the vocabulary read later on demand), and the repacked weights are the file's size.
    /// </summary>
    [Fact]
    public async Task LoadingAQuantizedFileKeepsOneCopy()
    {
        if (!OperatingSystem.IsLinux()) return;
        var dir = TestPaths.NewTempDir();
        try
        {
            string path = QuantizedModel(dir);
            long size = new FileInfo(path).Length;
            Assert.True(size > 80_000_000, $"{size}");
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            // Reset the peak (VmHWM) to the current RSS; where /proc does not allow it, sample RSS during the load instead.
            bool reset = true;
            try { File.WriteAllText("/proc/self/clear_refs", "5"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { reset = false; }
            long rssBefore = StatusBytes("VmRSS"), fileBefore = ResidentBytes(), weightsBefore = MemoryUse.WeightBytes;
            long sampledPeak = rssBefore;
            using var stop = new CancellationTokenSource();
            var sampler = reset ? Task.CompletedTask : Task.Run(() =>
            {
                while (!stop.IsCancellationRequested) { sampledPeak = Math.Max(sampledPeak, StatusBytes("VmRSS")); Thread.Sleep(1); }
            });
            long peakGrowth;
            using (var model = QwenModel.Load(path))
            {
                stop.Cancel();
                await sampler;
                peakGrowth = (reset ? StatusBytes("VmHWM") : sampledPeak) - rssBefore;
                long fileGrowth = ResidentBytes() - fileBefore;
                long weights = MemoryUse.WeightBytes - weightsBefore;
                long tensorBytes = 0;
                using (var g = new GgufFile(path)) tensorBytes = g.Tensors.Where(t => t.Type == GgmlType.Q8_0).Sum(t => t.ByteSize);
                Assert.InRange(weights, tensorBytes, tensorBytes + tensorBytes / 50);
                Assert.True(fileGrowth < 4 << 20, $"{fileGrowth} bytes of the file stay mapped after loading a {size}-byte file");
                Assert.True(peakGrowth < size * 11 / 10, $"loading a {size}-byte file grew the peak resident memory by {peakGrowth} bytes");
                // The deferred vocabulary is still there when asked for.
                using var again = new GgufFile(path);
                Assert.Equal("token149999", again.GetArray<string>("tokenizer.ggml.tokens")![149_999]);
            }
            Assert.Equal(weightsBefore, MemoryUse.WeightBytes);
        }
        finally { Directory.Delete(dir, true); }
    }
}
