using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Formats;

public class GgufTests
{
    [Fact]
    public void WriterAndReaderRoundTripEveryValueType()
    {
        var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "t.gguf");
        var w = new GgufWriter()
            .Add("general.architecture", "qwen3")
            .Add("u8", (byte)7).Add("i8", (sbyte)-7).Add("u16", (ushort)65000).Add("i16", (short)-30000)
            .Add("u32", 4000000000u).Add("i32", -5).Add("f32", 1.5f).Add("b", true)
            .Add("u64", ulong.MaxValue).Add("i64", long.MinValue).Add("f64", Math.PI)
            .Add("strs", new[] { "a", "ü", "" }).Add("ints", new[] { 1, 2, 3 }).Add("floats", new[] { 0.5f });
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        w.AddTensor("w", data, 2, 3);
        w.Write(path);

        using var g = new GgufFile(path);
        Assert.Equal(3u, g.Version);
        Assert.Equal("qwen3", g.GetString("general.architecture"));
        Assert.Equal((byte)7, g.Metadata["u8"]);
        Assert.Equal((sbyte)-7, g.Metadata["i8"]);
        Assert.Equal((ushort)65000, g.Metadata["u16"]);
        Assert.Equal((short)-30000, g.Metadata["i16"]);
        Assert.Equal(4000000000u, g.Metadata["u32"]);
        Assert.Equal(-5, g.Metadata["i32"]);
        Assert.Equal(1.5f, g.Metadata["f32"]);
        Assert.Equal(true, g.Metadata["b"]);
        Assert.Equal(ulong.MaxValue, g.Metadata["u64"]);
        Assert.Equal(long.MinValue, g.Metadata["i64"]);
        Assert.Equal(Math.PI, g.Metadata["f64"]);
        Assert.Equal(new[] { "a", "ü", "" }, g.GetArray<string>("strs"));
        Assert.Equal(new[] { 1, 2, 3 }, g.GetArray<int>("ints"));
        Assert.True(g.TryGetTensor("w", out var t));
        Assert.Equal(GgmlType.F32, t.Type);
        Assert.Equal(new long[] { 2, 3 }, t.Shape);
        unsafe
        {
            var span = new ReadOnlySpan<float>(g.DataPointer(t), 6);
            Assert.Equal(data, span.ToArray());
        }
    }

    /// <summary>Large arrays (a vocabulary) are checked at open but built on first access; every way of reading
    /// the metadata sees the same values, and a bad element is still reported at open, by index.</summary>
    [Fact]
    public void LargeArraysAreBuiltOnDemandAndCheckedAtOpen()
    {
        var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "v.gguf");
        var vocab = Enumerable.Range(0, 20_000).Select(i => i % 7 == 0 ? $"ü{i}" : $"t{i}").ToArray();
        var types = Enumerable.Range(0, 20_000).Select(i => i % 3).ToArray();
        new GgufWriter().Add("general.architecture", "qwen3").Add("tokenizer.ggml.tokens", vocab).Add("tokenizer.ggml.token_type", types)
            .Add("after", 42u).AddTensor("w", new float[] { 1, 2 }, 2).Write(path);
        using (var g = new GgufFile(path))
        {
            Assert.Equal(42u, g.Metadata["after"]); // the scan found the key after the skipped arrays
            Assert.Equal(vocab, g.GetArray<string>("tokenizer.ggml.tokens"));
            Assert.Same(g.GetArray<string>("tokenizer.ggml.tokens"), g.Metadata["tokenizer.ggml.tokens"]);
            Assert.Equal(types, (int[])g.Metadata.Single(kv => kv.Key == "tokenizer.ggml.token_type").Value);
            Assert.Contains(g.Metadata.Values, v => v is string[] a && a.Length == vocab.Length);
            Assert.True(g.TryGetTensor("w", out _));
        }
        var bytes = File.ReadAllBytes(path);
        int at = IndexOf(bytes, "t19998"u8.ToArray());
        bytes[at] = 0xff;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => { using var _ = new GgufFile(path); });
        Assert.Contains("'tokenizer.ggml.tokens' element 19998", e.Message);
        Assert.Contains("not valid UTF-8", e.Message);
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
            if (hay.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("not found");
    }

    [Fact]
    public void TensorRefPrintsItsFieldsNotItsPointer()
    {
        var t = new QwenSharp.Models.TensorRef("blk.0.attn_q.weight", GgmlType.Q8_0, [896, 896], 0x1234, 853_888, "m.gguf");
        Assert.Equal("TensorRef { Name = blk.0.attn_q.weight, Type = Q8_0, Shape = [896, 896], ByteSize = 853888, FilePath = m.gguf }", t.ToString());
    }
}
