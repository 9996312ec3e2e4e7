using System.Text;
using QwenSharp.Formats;
using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

public class HubCacheTests
{
    [Fact]
    public async Task ListShowsRevisionsSizeFormatAndWhetherItRuns()
    {
        using var f = new HubFixture();
        var shared = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1];
        f.Hub.Repos["Qwen/Tiny"].AddCommit(HubFixture.Commit2, "v2",
            [new MockFile("config.json", Encoding.UTF8.GetBytes("{\"model_type\":\"qwen2_5_vl\"}"), lfs: false), .. shared.Where(m => m.Path != "config.json")]);
        using var client = new HubClient();
        await client.PullAsync("Qwen/Tiny", f.Options());
        await client.PullAsync("Qwen/Tiny@v2", f.Options());

        var cache = new HubCache(f.Cache);
        var model = Assert.Single(cache.List());
        Assert.Equal("Qwen/Tiny", model.Repo.Id);
        Assert.Equal(2, model.Revisions.Count);
        var main = model.Revisions.Single(r => r.Refs.Contains("main"));
        var v2 = model.Revisions.Single(r => r.Refs.Contains("v2"));
        Assert.Equal(ModelFormat.Safetensors, main.Info.Format);
        Assert.True(main.Info.Runnable, main.Info.Reason);
        Assert.False(v2.Info.Runnable);
        Assert.Contains("vision", v2.Info.Reason);
        Assert.Equal(shared.Sum(m => (long)m.Content.Length), main.SizeBytes);
        // The weights are stored once for both revisions.
        long blobs = shared.Sum(m => (long)m.Content.Length) + Encoding.UTF8.GetByteCount("{\"model_type\":\"qwen2_5_vl\"}");
        Assert.Equal(blobs, model.SizeOnDisk);
    }

    [Fact]
    public async Task RemovingARevisionKeepsBlobsOtherRevisionsUseAndRemovingTheLastRemovesTheRepo()
    {
        using var f = new HubFixture();
        var shared = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1];
        var newConfig = new MockFile("config.json", Encoding.UTF8.GetBytes("{\"model_type\":\"qwen3\",\"v\":2}"), lfs: false);
        f.Hub.Repos["Qwen/Tiny"].AddCommit(HubFixture.Commit2, "v2", [newConfig, .. shared.Where(m => m.Path != "config.json")]);
        using var client = new HubClient();
        await client.PullAsync("Qwen/Tiny", f.Options());
        var v2 = await client.PullAsync("Qwen/Tiny@v2", f.Options());
        var cache = new HubCache(f.Cache);
        var repo = new RepoId("Qwen", "Tiny");

        var removed = cache.Remove(repo, "main");
        Assert.False(removed.RemovedWholeRepo);
        Assert.Equal([HubFixture.Commit1], removed.RemovedCommits);
        var oldConfig = shared.Single(m => m.Path == "config.json");
        Assert.Equal(oldConfig.Content.Length, removed.FreedBytes);
        Assert.False(File.Exists(Path.Combine(cache.RepoFolder(repo), "refs", "main")));
        Assert.All(f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit2], m => Assert.Equal(m.Content, File.ReadAllBytes(Path.Combine(v2.SnapshotPath, m.Path))));

        var e = Assert.Throws<HubException>(() => cache.Remove(repo, "main"));
        Assert.Contains("not in the cache", e.Message);

        var all = cache.Remove(repo, HubFixture.Commit2[..8]);
        Assert.True(all.RemovedWholeRepo);
        Assert.False(Directory.Exists(cache.RepoFolder(repo)));
        Assert.Empty(cache.List());
    }

    [Fact]
    public void GgufFolderIsInspectedThroughItsHeader()
    {
        var dir = TestPaths.NewTempDir();
        new GgufWriter().Add("general.architecture", "qwen3").AddTensor("w", new float[] { 1, 2 }, 2).Write(Path.Combine(dir, "a-Q8_0.gguf"));
        new GgufWriter().Add("general.architecture", "clip").AddTensor("w", new float[] { 1 }, 1).Write(Path.Combine(dir, "mmproj-f16.gguf"));
        var info = ModelFolderInspector.Inspect(dir);
        Assert.Equal(ModelFormat.Gguf, info.Format);
        Assert.True(info.Runnable, info.Reason);
        Assert.Equal(["a-Q8_0.gguf"], info.GgufFiles);

        var vl = TestPaths.NewTempDir();
        new GgufWriter().Add("general.architecture", "qwen2vl").AddTensor("w", new float[] { 1 }, 1).Write(Path.Combine(vl, "v.gguf"));
        var vlInfo = ModelFolderInspector.Inspect(vl);
        Assert.False(vlInfo.Runnable);
        Assert.Contains("vision", vlInfo.Reason);

        var split = TestPaths.NewTempDir();
        new GgufWriter().Add("general.architecture", "qwen2").AddTensor("w", new float[] { 1 }, 1).Write(Path.Combine(split, "m-00001-of-00002.gguf"));
        var splitInfo = ModelFolderInspector.Inspect(split);
        Assert.False(splitInfo.Runnable);
        Assert.Contains("m-00002-of-00002.gguf", splitInfo.Reason);
    }

    [Fact]
    public void SafetensorsFolderNeedsEveryShardAndTheTokenizer()
    {
        var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\":\"qwen2\"}");
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        File.WriteAllText(Path.Combine(dir, "model-00001-of-00002.safetensors"), "x");
        var info = ModelFolderInspector.Inspect(dir);
        Assert.False(info.Runnable);
        Assert.Contains("model-00002-of-00002.safetensors", info.Reason);
        File.WriteAllText(Path.Combine(dir, "model-00002-of-00002.safetensors"), "x");
        Assert.Contains("tokenizer.json", ModelFolderInspector.Inspect(dir).Reason);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{}");
        Assert.True(ModelFolderInspector.Inspect(dir).Runnable);
    }

    [SharedFixtureFact]
    public void SharedFixtureModelsAreRunnable()
    {
        foreach (var name in new[] { "qwen2-tiny", "qwen3-tiny", "qwen2moe-tiny", "qwen3moe-tiny", "qwen2-sharded-tiny" })
        {
            var folder = Path.Combine(TestPaths.SharedFixtures!, "models", name);
            var info = ModelFolderInspector.Inspect(folder);
            Assert.True(info.Runnable, $"{name}: {info.Reason}");
            Assert.Equal(ModelFormat.SafetensorsAndGguf, info.Format);
        }
    }
}
