using System.Security.Cryptography;
using System.Text;
using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

public class ModelLocatorTests
{
    static ModelResolveOptions Resolve(HubFixture f, bool offline = false, IReadOnlyList<string>? include = null, string? revision = null) =>
        new() { Environment = f.Env(offline), Include = include ?? [], Revision = revision };

    [Fact]
    public async Task ExistingFileOrFolderIsReturnedUnchanged()
    {
        var dir = TestPaths.NewTempDir();
        var file = Path.Combine(dir, "m.gguf");
        File.WriteAllText(file, "x");
        Assert.Equal(dir, await ModelLocator.Resolve(dir));
        Assert.Equal(file, await ModelLocator.Resolve(file));
    }

    [Fact]
    public async Task NeitherPathNorRepoIdIsAClearError()
    {
        var e = await Assert.ThrowsAsync<HubException>(() => ModelLocator.Resolve("no/such/path.gguf"));
        Assert.Equal(HubErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("no/such/path.gguf", e.Message);
    }

    [Fact]
    public async Task RepoIdIsDownloadedAndResolvedToItsSnapshotFolder()
    {
        using var f = new HubFixture();
        string path = await ModelLocator.Resolve("Qwen/Tiny", Resolve(f));
        Assert.Equal(Path.Combine(f.Cache, "models--Qwen--Tiny", "snapshots", HubFixture.Commit1), path);
        Assert.True(File.Exists(Path.Combine(path, "model.safetensors")));
    }

    [Fact]
    public async Task OfflineModeUsesTheCacheAndNeverTouchesTheNetwork()
    {
        using var f = new HubFixture();
        string online = await ModelLocator.Resolve("Qwen/Tiny", Resolve(f));
        int requests = f.Hub.RequestCount;

        string offline = await ModelLocator.Resolve("Qwen/Tiny", Resolve(f, offline: true));
        Assert.Equal(online, offline);
        Assert.Equal(online, await ModelLocator.Resolve("Qwen/Tiny@main", Resolve(f, offline: true)));
        Assert.Equal(online, await ModelLocator.Resolve("Qwen/Tiny@" + HubFixture.Commit1[..10], Resolve(f, offline: true)));

        var missing = await Assert.ThrowsAsync<HubException>(() => ModelLocator.Resolve("Qwen/Other", Resolve(f, offline: true)));
        Assert.Equal(HubErrorKind.Offline, missing.Kind);
        Assert.Contains("HF_HUB_OFFLINE", missing.Message);
        Assert.Contains("qwensharp pull Qwen/Other", missing.Message);

        using var client = new HubClient();
        var pulled = await client.PullAsync("Qwen/Tiny", f.Options(offline: true));
        Assert.True(pulled.FromCacheOnly);
        Assert.Equal(requests, f.Hub.RequestCount);
    }

    [Fact]
    public async Task UnreachableHubFallsBackToTheCachedSnapshot()
    {
        using var f = new HubFixture();
        string online = await ModelLocator.Resolve("Qwen/Tiny", Resolve(f));
        var env = HubEnvironment.FromVariables(n => n switch { "HF_HOME" => f.Home, "HF_ENDPOINT" => "http://127.0.0.1:1", _ => null });
        Assert.Equal(online, await ModelLocator.Resolve("Qwen/Tiny", new ModelResolveOptions { Environment = env }));
    }

    /// <summary>Builds by hand the cache Python's huggingface_hub writes (snapshot_download): blobs named by
    /// ETag, relative symlinks from snapshots/&lt;commit&gt;/, refs/main holding the commit.</summary>
    static void WritePythonCache(string cache, string repoFolder, string commit, IEnumerable<MockFile> files)
    {
        string root = Path.Combine(cache, repoFolder);
        Directory.CreateDirectory(Path.Combine(root, "blobs"));
        Directory.CreateDirectory(Path.Combine(root, "refs"));
        File.WriteAllText(Path.Combine(root, "refs", "main"), commit); // huggingface_hub writes no newline
        foreach (var mf in files)
        {
            File.WriteAllBytes(Path.Combine(root, "blobs", mf.Etag), mf.Content);
            string link = Path.Combine(root, "snapshots", commit, mf.Path.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            string depth = string.Concat(Enumerable.Repeat("../", mf.Path.Count(c => c == '/') + 2));
            File.CreateSymbolicLink(link, depth + "blobs/" + mf.Etag);
        }
        Directory.CreateDirectory(Path.Combine(cache, ".locks", repoFolder));
    }

    [Fact]
    public async Task CacheLaidOutByPythonHuggingFaceHubIsReusedOnlineAndOffline()
    {
        using var f = new HubFixture();
        var files = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1];
        WritePythonCache(f.Cache, "models--Qwen--Tiny", HubFixture.Commit1, files);

        string offline = await ModelLocator.Resolve("Qwen/Tiny", Resolve(f, offline: true));
        Assert.Equal(Path.Combine(f.Cache, "models--Qwen--Tiny", "snapshots", HubFixture.Commit1), offline);
        Assert.Equal(0, f.Hub.RequestCount);

        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny", f.Options());
        Assert.Equal(offline, result.SnapshotPath);
        Assert.Equal(0, result.FilesDownloaded);
        Assert.Equal(files.Count, result.FilesCached);
        Assert.Equal(0, f.Count(r => r.Url.Contains("/resolve/") || r.Url.Contains("/cdn/")));
        var listed = new HubCache(f.Cache).Get(new RepoId("Qwen", "Tiny"))!;
        Assert.Equal(["main"], listed.Revisions.Single().Refs);
    }

    [Fact]
    public async Task BlobsFromPythonCacheAreLinkedIntoANewSnapshotWithoutDownloading()
    {
        using var f = new HubFixture();
        var files = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1];
        WritePythonCache(f.Cache, "models--Qwen--Tiny", HubFixture.Commit1, files);
        // A new commit on main with the same weights and a changed config: only the config is downloaded.
        var newConfig = new MockFile("config.json", Encoding.UTF8.GetBytes("{\"model_type\":\"qwen3\",\"hidden_size\":16}"), lfs: false);
        f.Hub.Repos["Qwen/Tiny"].AddCommit(HubFixture.Commit2, "main", [newConfig, .. files.Where(m => m.Path != "config.json")]);

        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny", f.Options());
        Assert.Equal(HubFixture.Commit2, result.Commit);
        Assert.Equal(1, result.FilesDownloaded);
        Assert.Equal(0, f.Count(r => r.Url.Contains("/cdn/")));
        Assert.Equal(HubFixture.Commit2, File.ReadAllText(Path.Combine(f.Cache, "models--Qwen--Tiny", "refs", "main")));
    }

    [Fact]
    public async Task IncludePatternOnAGgufRepoResolvesToTheSingleMatchingFile()
    {
        using var f = new HubFixture();
        var q4 = new MockFile("Tiny-Q4_K_M.gguf", MockHub.RandomBytes(4000, 5), lfs: true);
        f.Hub.AddRepo("Qwen/Tiny-GGUF").AddCommit(HubFixture.Commit1, "main",
            new MockFile("README.md", Encoding.UTF8.GetBytes("# gguf"), lfs: false), q4,
            new MockFile("Tiny-Q8_0.gguf", MockHub.RandomBytes(8000, 6), lfs: true));

        var ambiguous = await Assert.ThrowsAsync<HubException>(() => ModelLocator.Resolve("Qwen/Tiny-GGUF", Resolve(f)));
        Assert.Equal(HubErrorKind.Ambiguous, ambiguous.Kind);
        Assert.Contains("--include", ambiguous.Message);
        Assert.Equal(0, f.Count(r => r.Url.Contains("/cdn/")));

        string path = await ModelLocator.Resolve("Qwen/Tiny-GGUF", Resolve(f, include: ["*Q4_K_M.gguf"]));
        Assert.Equal("Tiny-Q4_K_M.gguf", Path.GetFileName(path));
        Assert.Equal(q4.Content, File.ReadAllBytes(path));
        Assert.Equal(path, await ModelLocator.Resolve("Qwen/Tiny-GGUF", Resolve(f, offline: true, include: ["*q4_k_m.gguf"])));

        var two = await Assert.ThrowsAsync<HubException>(() => ModelLocator.Resolve("Qwen/Tiny-GGUF", Resolve(f, include: ["*.gguf"])));
        Assert.Equal(HubErrorKind.Ambiguous, two.Kind);
    }

    [Fact]
    public async Task SplitGgufResolvesToItsFirstPart()
    {
        using var f = new HubFixture();
        f.Hub.AddRepo("Qwen/Big-GGUF").AddCommit(HubFixture.Commit1, "main",
            new MockFile("big-q8_0-00001-of-00002.gguf", MockHub.RandomBytes(3000, 7), lfs: true),
            new MockFile("big-q8_0-00002-of-00002.gguf", MockHub.RandomBytes(3000, 8), lfs: true),
            new MockFile("big-q4_k_m.gguf", MockHub.RandomBytes(2000, 9), lfs: true));
        string path = await ModelLocator.Resolve("Qwen/Big-GGUF", Resolve(f, include: ["*q8_0*.gguf"]));
        Assert.Equal("big-q8_0-00001-of-00002.gguf", Path.GetFileName(path));
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "big-q8_0-00002-of-00002.gguf")));
    }
}
