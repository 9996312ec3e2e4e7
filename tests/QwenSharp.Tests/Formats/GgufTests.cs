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
}
