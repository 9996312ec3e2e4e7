using System.Text.Json;
using QwenSharp.Cli;

namespace QwenSharp.Tests.Hub;

public class HubCliTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void PullListAndRmWorkAgainstTheMockHub()
    {
        using var f = new HubFixture();
        var pull = Run("pull", "Qwen/Tiny", "--endpoint", f.Hub.Endpoint, "--cache-dir", f.Cache);
        Assert.True(pull.Code == 0, pull.Err);
        Assert.Contains("pulled Qwen/Tiny@main (commit 1111111", pull.Out);
        Assert.Contains(Path.Combine(f.Cache, "models--Qwen--Tiny", "snapshots", HubFixture.Commit1), pull.Out);

        var list = Run("list", "--cache-dir", f.Cache);
        Assert.Equal(0, list.Code);
        var row = list.Out.Split('\n').Single(l => l.StartsWith("Qwen/Tiny", StringComparison.Ordinal));
        Assert.Contains("main", row);
        Assert.Contains("safetensors", row);
        Assert.Contains("yes", row);

        var json = Run("list", "--json", "--cache-dir", f.Cache);
        using (var doc = JsonDocument.Parse(json.Out))
        {
            var model = doc.RootElement.GetProperty("models")[0];
            Assert.Equal("Qwen/Tiny", model.GetProperty("repo").GetString());
            var rev = model.GetProperty("revisions")[0];
            Assert.Equal(HubFixture.Commit1, rev.GetProperty("commit").GetString());
            Assert.True(rev.GetProperty("runnable").GetBoolean());
            Assert.Equal("safetensors", rev.GetProperty("format").GetString());
        }

        var noYes = Run("rm", "Qwen/Tiny", "--cache-dir", f.Cache);
        Assert.NotEqual(0, noYes.Code);
        Assert.Contains("--yes", noYes.Err);
        Assert.True(Directory.Exists(Path.Combine(f.Cache, "models--Qwen--Tiny")));

        var rm = Run("rm", "Qwen/Tiny", "--yes", "--cache-dir", f.Cache);
        Assert.Equal(0, rm.Code);
        Assert.Contains("removed Qwen/Tiny", rm.Out);
        Assert.False(Directory.Exists(Path.Combine(f.Cache, "models--Qwen--Tiny")));
        Assert.Contains("no models in the cache", Run("list", "--cache-dir", f.Cache).Out);
    }

    [Fact]
    public void PullWithIncludeAndSourceOptions()
    {
        using var f = new HubFixture();
        f.Hub.Repos["Qwen/Tiny"].Refs["master"] = HubFixture.Commit1;
        var r = Run("pull", "Qwen/Tiny", "--source", "modelscope", "--include", "*.json", "--endpoint", f.Hub.Endpoint, "--cache-dir", f.Cache);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("ModelScope", r.Out);
        Assert.Contains("2 files", r.Out);
        Assert.True(File.Exists(Path.Combine(f.Cache, "models--Qwen--Tiny", "refs", "master")));
    }

    [Fact]
    public void ErrorsAreOneLineWithAnExitCode()
    {
        using var f = new HubFixture();
        f.Hub.Repos["Qwen/Tiny"].GatedToken = "hf_x";
        var gated = Run("pull", "Qwen/Tiny", "--endpoint", f.Hub.Endpoint, "--cache-dir", f.Cache);
        Assert.Equal(3, gated.Code);
        Assert.StartsWith("error: ", gated.Err);
        Assert.Contains("HF_TOKEN", gated.Err);
        Assert.Single(gated.Err.Trim().Split('\n'));

        var bad = Run("pull", "not-a-repo");
        Assert.Equal(2, bad.Code);
        Assert.Single(bad.Err.Trim().Split('\n'));
        Assert.Equal(2, Run("pull", "Qwen/Tiny", "--source", "ftp").Code);
        Assert.Equal(4, Run("rm", "Qwen/Nothing", "--yes", "--cache-dir", f.Cache).Code);
    }

    [Fact]
    public void RecommendPrintsRankedCommandsAndJson()
    {
        var text = Run("recommend", "--task", "code", "--memory", "24GB", "--context", "32k", "--priority", "quality");
        Assert.Equal(0, text.Code);
        Assert.Contains("1. Qwen/", text.Out);
        Assert.Contains("qwensharp chat --model Qwen/", text.Out);

        var json = Run("recommend", "--memory", "8GB", "--json", "--count", "3");
        Assert.Equal(0, json.Code);
        using var doc = JsonDocument.Parse(json.Out);
        var recs = doc.RootElement.GetProperty("recommendations");
        Assert.Equal(3, recs.GetArrayLength());
        foreach (var r in recs.EnumerateArray())
            Assert.True(r.GetProperty("totalBytes").GetInt64() <= 8L << 30);

        var auto = Run("recommend", "--memory", "auto");
        Assert.Contains("machine: ", auto.Out);

        Assert.Equal(2, Run("recommend", "--memory", "lots").Code);
        Assert.Equal(2, Run("recommend", "--context", "x").Code);
        Assert.Equal(2, Run("recommend", "--priority", "cheap").Code);
        var none = Run("recommend", "--memory", "100MB");
        Assert.Equal(1, none.Code);
        Assert.Contains("no catalog model fits", none.Out);
    }
}
