using System.Text.Json;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Cli;

/// <summary>`qwensharp quantize` and `qwensharp bench` end to end, and their errors.</summary>
public class PerfCommandsTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = QwenSharp.Cli.Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    static string Model => Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");

    [Fact]
    public void QuantizeWritesAGgufThatLoadsAndBenchReportsJson()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "q.gguf");
        var (code, _, err) = Run("quantize", "--model", Model, "--type", "Q4_K_M", "--out", path);
        Assert.True(code == 0, err);
        using (var g = new GgufFile(path))
        {
            Assert.Equal(15u, Convert.ToUInt32(g.Metadata["general.file_type"]));
            Assert.True(g.TryGetTensor("blk.0.ffn_gate.weight", out var t) && t.Type == GgmlType.Q4_K);
            Assert.Equal("gpt2", g.GetString("tokenizer.ggml.model"));
        }
        var (bcode, bout, berr) = Run("bench", "--model", path, "--prompt", "8", "--gen", "4", "--runs", "1", "--threads", "2", "--json");
        Assert.True(bcode == 0, berr);
        using var doc = JsonDocument.Parse(bout);
        foreach (var key in new[] { "load_s", "prefill_tok_s", "decode_tok_s", "ttft_s", "peak_rss_bytes", "threads" })
            Assert.True(doc.RootElement.TryGetProperty(key, out _), $"missing {key}");
        Assert.Equal(2, doc.RootElement.GetProperty("threads").GetInt32());
        Assert.True(doc.RootElement.GetProperty("decode_tok_s").GetDouble() > 0);
        Assert.False(doc.RootElement.TryGetProperty("decode_profile_ms", out _), "the profile is only there with --profile");
    }

    [Fact]
    public void BenchProfileSaysWhereADecodeStepGoes()
    {
        var (code, output, err) = Run("bench", "--model", Model, "--prompt", "8", "--gen", "4", "--runs", "1", "--profile", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var parts = doc.RootElement.GetProperty("decode_profile_ms");
        foreach (var key in new[] { "embedding", "norms", "qkv_proj", "rope_kv_store", "attention", "o_proj", "mlp", "residual", "lm_head" })
            Assert.True(parts.GetProperty(key).GetDouble() >= 0, key);
        Assert.True(parts.GetProperty("attention").GetDouble() > 0);
        (code, output, err) = Run("bench", "--model", Model, "--prompt", "8", "--gen", "4", "--runs", "1", "--profile");
        Assert.True(code == 0, err);
        Assert.Contains("decode step, by part:", output);
        Assert.Contains("lm_head", output);
    }

    [Fact]
    public void BenchWithOnTheFlyQuantizationRuns()
    {
        var (code, output, err) = Run("bench", "--model", Model, "--quantize", "q8_0", "--prompt", "4", "--gen", "2", "--runs", "1", "--kv-type", "q8_0");
        Assert.True(code == 0, err);
        Assert.Contains("decode", output);
    }

    [Theory]
    [InlineData("quantize", "--type", "Q3_XX", "--out", "x.gguf")]
    [InlineData("bench", "--prompt", "0")]
    [InlineData("bench", "--ubatch", "0")]
    [InlineData("bench", "--quantize", "q9")]
    [InlineData("bench", "--kv-type", "f8")]
    public void BadArgumentsGetAOneLineError(params string[] args)
    {
        var full = new List<string> { args[0], "--model", Model };
        full.AddRange(args[1..]);
        var (code, _, err) = Run(full.ToArray());
        Assert.NotEqual(0, code);
        Assert.StartsWith("error: ", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void QuantizeIntoAMissingFolderFails()
    {
        var (code, _, err) = Run("quantize", "--model", Model, "--type", "Q8_0", "--out", Path.Combine(TestPaths.NewTempDir(), "no", "such", "x.gguf"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", err);
    }
}
