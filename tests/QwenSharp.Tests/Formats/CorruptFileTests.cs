using System.Text;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Formats;

/// <summary>Corrupt, truncated and hostile files give a ModelFormatException naming the file, never another exception.</summary>
public class CorruptFileTests
{
    static byte[] SmallGguf()
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "s.gguf");
        new GgufWriter()
            .Add("general.architecture", "qwen3").Add("names", new[] { "a", "b" }).Add("n", 3u)
            .AddTensor("t1", new float[] { 1, 2, 3, 4 }, 2, 2)
            .AddTensor("t2", new float[] { 5, 6 }, 2)
            .Write(path);
        return File.ReadAllBytes(path);
    }

    static ModelFormatException OpenGguf(byte[] bytes)
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "bad.gguf");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => { using var _ = new GgufFile(path); });
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void EveryTruncationOfAGgufIsAClearError()
    {
        var bytes = SmallGguf();
        var path = Path.Combine(TestPaths.NewTempDir(), "whole.gguf");
        File.WriteAllBytes(path, bytes);
        long end;
        using (var g = new GgufFile(path)) end = g.Tensors.Max(t => t.Offset + t.ByteSize);
        // Every cut before the end of the last tensor's data (what follows is alignment padding).
        for (int len = 0; len < end; len++)
            OpenGguf(bytes[..len]);
    }

    [Fact]
    public void RandomByteFlipsNeverThrowAnythingElse()
    {
        var bytes = SmallGguf();
        var rng = new Random(42);
        var path = Path.Combine(TestPaths.NewTempDir(), "flip.gguf");
        for (int trial = 0; trial < 2000; trial++)
        {
            var b = (byte[])bytes.Clone();
            for (int k = 0; k < 1 + rng.Next(4); k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            File.WriteAllBytes(path, b);
            try { using var g = new GgufFile(path); }
            catch (ModelFormatException) { }
        }
    }

    [Fact]
    public void WrongMagicAndVersionAreNamed()
    {
        var b = SmallGguf();
        b[0] = (byte)'X';
        Assert.Contains("not a GGUF file", OpenGguf(b).Message);
        b = SmallGguf();
        b[4] = 1;
        Assert.Contains("version 1", OpenGguf(b).Message);
    }

    [Fact]
    public void AbsurdCountsAreRejectedWithoutAllocating()
    {
        var b = SmallGguf();
        BitConverter.GetBytes(1UL << 60).CopyTo(b, 8); // tensor count
        Assert.Contains("tensor count", OpenGguf(b).Message);
        b = SmallGguf();
        BitConverter.GetBytes(1UL << 60).CopyTo(b, 16); // metadata count
        Assert.Contains("metadata count", OpenGguf(b).Message);
    }

    [Fact]
    public void NonUtf8StringsAreRejected()
    {
        var b = SmallGguf();
        int i = IndexOf(b, Encoding.UTF8.GetBytes("general.architecture"));
        b[i] = 0xff;
        Assert.Contains("not valid UTF-8", OpenGguf(b).Message);
    }

    [Fact]
    public void OverlappingTensorsAreRejected()
    {
        var b = SmallGguf();
        // t2's offset field follows its name, dims and type; point it at t1's data.
        int name = IndexOf(b, Encoding.UTF8.GetBytes("t2"));
        int offsetField = name + 2 + 4 + 8 + 4;
        BitConverter.GetBytes(0UL).CopyTo(b, offsetField);
        Assert.Contains("overlap", OpenGguf(b).Message);
    }

    [Fact]
    public void TensorPastTheEndIsRejected()
    {
        var b = SmallGguf();
        int name = IndexOf(b, Encoding.UTF8.GetBytes("t2"));
        BitConverter.GetBytes(1UL << 40).CopyTo(b, name + 2 + 4 + 8 + 4);
        Assert.Contains("past the end", OpenGguf(b).Message);
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
            if (hay.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("not found");
    }

    // ---- safetensors ---------------------------------------------------------------------------

    static ModelFormatException OpenSafetensors(byte[] bytes)
    {
        var path = Path.Combine(TestPaths.NewTempDir(), "bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => { using var _ = new SafetensorsFile(path); });
        Assert.Contains(path, e.Message);
        return e;
    }

    static byte[] Safetensors(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + h.Length + dataBytes];
        BitConverter.GetBytes((ulong)h.Length).CopyTo(b, 0);
        h.CopyTo(b, 8);
        return b;
    }

    [Fact]
    public void SafetensorsHeaderProblemsAreNamed()
    {
        Assert.Contains("too short", OpenSafetensors([1, 2]).Message);
        var b = Safetensors("{}", 0);
        BitConverter.GetBytes(1UL << 50).CopyTo(b, 0);
        Assert.Contains("header length", OpenSafetensors(b).Message);
        Assert.Contains("not valid JSON", OpenSafetensors(Safetensors("{\"a\":", 0)).Message);
        Assert.Contains("unknown dtype", OpenSafetensors(Safetensors("{\"w\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)).Message);
        Assert.Contains("needs 8 bytes", OpenSafetensors(Safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8)).Message);
        Assert.Contains("past the end", OpenSafetensors(Safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4)).Message);
        Assert.Contains("overlap", OpenSafetensors(Safetensors(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)).Message);
        Assert.Contains("not a non-negative integer", OpenSafetensors(Safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8)).Message);
    }

    [Fact]
    public void EveryTruncationOfASafetensorsFileIsAClearError()
    {
        var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir, "ok.safetensors");
        new SafetensorsWriter().AddF32("a", new float[] { 1, 2, 3 }, 3).AddBF16("b", new float[] { 1, 2 }, 1, 2).Write(path);
        var bytes = File.ReadAllBytes(path);
        using (var ok = new SafetensorsFile(path)) Assert.Equal(2, ok.Tensors.Count);
        for (int len = 0; len < bytes.Length; len++) OpenSafetensors(bytes[..len]);
    }

    // ---- model level ---------------------------------------------------------------------------

    [Fact]
    public void UnsupportedArchitectureListsTheSupportedOnes()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\":\"llama\",\"hidden_size\":8}");
        var e = Assert.Throws<ModelFormatException>(() => QwenModel.Load(dir));
        Assert.Contains("llama", e.Message);
        Assert.Contains("qwen2, qwen3, qwen2_moe, qwen3_moe", e.Message);
    }

    [Fact]
    public void WrongConfigFieldTypesAreNamed()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\":\"qwen3\",\"hidden_size\":\"big\"}");
        var e = Assert.Throws<ModelFormatException>(() => QwenModel.Load(dir));
        Assert.Contains("'hidden_size' must be an integer", e.Message);
    }

    [Fact]
    public void MissingAndMisshapenTensorsAreNamed()
    {
        var src = Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");
        var dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(src, "config.json"), Path.Combine(dir, "config.json"));
        new SafetensorsWriter().AddBF16("model.embed_tokens.weight", new float[512 * 4], 512, 4).Write(Path.Combine(dir, "model.safetensors"));
        var e = Assert.Throws<ModelFormatException>(() => QwenModel.Load(dir));
        Assert.Contains("model.embed_tokens.weight", e.Message);
        Assert.Contains("expected [512, 256]", e.Message);
    }
}
