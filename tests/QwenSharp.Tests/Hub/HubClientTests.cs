using System.Text;
using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

public class HubClientTests
{
    static string RepoFolder(HubFixture f) => Path.Combine(f.Cache, "models--Qwen--Tiny");

    [Fact]
    public async Task PullWritesHuggingFaceHubCacheLayout()
    {
        using var f = new HubFixture();
        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny", f.Options());

        string snap = Path.Combine(RepoFolder(f), "snapshots", HubFixture.Commit1);
        Assert.Equal(snap, result.SnapshotPath);
        Assert.Equal(HubFixture.Commit1, File.ReadAllText(Path.Combine(RepoFolder(f), "refs", "main")));
        foreach (var mf in f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1])
        {
            string file = Path.Combine(snap, mf.Path.Replace('/', Path.DirectorySeparatorChar));
            Assert.Equal(mf.Content, File.ReadAllBytes(file));
            // A relative symlink into blobs/, named by the ETag: SHA-256 for LFS files, git blob id otherwise.
            string expectedTarget = string.Concat(Enumerable.Repeat("../", mf.Path.Count(c => c == '/') + 2)) + "blobs/" + mf.Etag;
            Assert.Equal(expectedTarget, new FileInfo(file).LinkTarget!.Replace('\\', '/'));
            Assert.True(File.Exists(Path.Combine(RepoFolder(f), "blobs", mf.Etag)));
        }
        Assert.Empty(Directory.GetFiles(Path.Combine(RepoFolder(f), "blobs"), "*.incomplete"));
        Assert.Equal(4, result.FilesDownloaded);
    }

    [Fact]
    public async Task TokenIsNeverSentToTheCdn()
    {
        using var f = new HubFixture();
        using var client = new HubClient();
        await client.PullAsync("Qwen/Tiny", f.Options(token: "hf_secret"));
        Assert.True(f.Count(r => r.Url.Contains("/cdn/")) > 0);
        Assert.Equal(0, f.Count(r => r.Url.Contains("/cdn/") && r.Authorization != null));
        Assert.True(f.Count(r => r.Url.Contains("/api/models/") && r.Authorization == "Bearer hf_secret") > 0);
    }

    [Fact]
    public async Task DroppedConnectionIsResumedWithARangeRequestToAByteIdenticalFile()
    {
        using var f = new HubFixture();
        f.Hub.DropAfter["model.safetensors"] = 123_457;
        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny", f.Options());

        var expected = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1].Single(m => m.Path == "model.safetensors").Content;
        Assert.Equal(expected, File.ReadAllBytes(Path.Combine(result.SnapshotPath, "model.safetensors")));
        Assert.Equal(1, f.Count(r => r.Url.Contains("/cdn/") && r.Range == "bytes=123457-"));
    }

    [Fact]
    public async Task InterruptedDownloadLeavesNothingThatLooksCompleteAndTheNextPullResumesIt()
    {
        using var f = new HubFixture();
        f.Hub.DropAfter["model.safetensors"] = 200_000;
        using (var client = new HubClient())
        {
            var e = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny", f.Options(maxRetries: 0)));
            Assert.Equal(HubErrorKind.Network, e.Kind);
        }
        var lfs = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1].Single(m => m.Path == "model.safetensors");
        string blob = Path.Combine(RepoFolder(f), "blobs", lfs.Sha256);
        Assert.False(File.Exists(blob));
        Assert.Equal(200_000, new FileInfo(blob + ".incomplete").Length);
        Assert.False(File.Exists(Path.Combine(RepoFolder(f), "snapshots", HubFixture.Commit1, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(RepoFolder(f), "refs", "main")));

        using (var client = new HubClient())
        {
            var result = await client.PullAsync("Qwen/Tiny", f.Options());
            Assert.Equal(lfs.Content, File.ReadAllBytes(Path.Combine(result.SnapshotPath, "model.safetensors")));
        }
        Assert.Equal(1, f.Count(r => r.Url.Contains("/cdn/") && r.Range == "bytes=200000-"));
        Assert.False(File.Exists(blob + ".incomplete"));
    }

    [Fact]
    public async Task CorruptedDownloadIsDetectedDiscardedAndNotUsed()
    {
        using var f = new HubFixture();
        f.Hub.Corrupt["model.safetensors"] = true;
        using var client = new HubClient();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny", f.Options()));
        Assert.Equal(HubErrorKind.Integrity, e.Kind);
        Assert.Contains("corrupt", e.Message);

        string snap = Path.Combine(RepoFolder(f), "snapshots", HubFixture.Commit1);
        Assert.False(File.Exists(Path.Combine(snap, "model.safetensors")));
        var blobs = Path.Combine(RepoFolder(f), "blobs");
        var lfs = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1].Single(m => m.Path == "model.safetensors");
        Assert.False(File.Exists(Path.Combine(blobs, lfs.Sha256)));
        Assert.False(File.Exists(Path.Combine(blobs, lfs.Sha256 + ".incomplete")));

        // A small (git) file is checked against its git blob id the same way.
        f.Hub.AddRepo("Qwen/Small").AddCommit(HubFixture.Commit2, "main", new MockFile("notes.txt", Encoding.UTF8.GetBytes("some notes"), lfs: false));
        f.Hub.Corrupt["notes.txt"] = true;
        var git = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Small", f.Options()));
        Assert.Equal(HubErrorKind.Integrity, git.Kind);
        Assert.Contains("git blob id", git.Message);
        Assert.False(File.Exists(Path.Combine(f.Cache, "models--Qwen--Small", "snapshots", HubFixture.Commit2, "notes.txt")));

        // Once the server serves the right bytes, the same pull succeeds.
        f.Hub.Corrupt.Clear();
        var result = await client.PullAsync("Qwen/Tiny", f.Options());
        Assert.Equal(lfs.Content, File.ReadAllBytes(Path.Combine(result.SnapshotPath, "model.safetensors")));
    }

    [Fact]
    public async Task GatedRepositoryWithoutTokenSaysToSetHfToken()
    {
        using var f = new HubFixture();
        f.Hub.Repos["Qwen/Tiny"].GatedToken = "hf_good";
        using var client = new HubClient();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny", f.Options()));
        Assert.Equal(HubErrorKind.Unauthorized, e.Kind);
        Assert.Contains("gated", e.Message);
        Assert.Contains("HF_TOKEN", e.Message);

        var wrong = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny", f.Options(token: "hf_bad")));
        Assert.Equal(HubErrorKind.Unauthorized, wrong.Kind);
        Assert.Contains("HF_TOKEN", wrong.Message);

        var ok = await client.PullAsync("Qwen/Tiny", f.Options(token: "hf_good"));
        Assert.Equal(4, ok.Files.Count);
    }

    [Fact]
    public async Task MissingRepositoryAndRevisionGiveClearErrors()
    {
        using var f = new HubFixture();
        using var client = new HubClient();
        var repo = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Nope", f.Options()));
        Assert.Equal(HubErrorKind.RepositoryNotFound, repo.Kind);
        Assert.Contains("Qwen/Nope", repo.Message);
        var rev = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny@v9", f.Options()));
        Assert.Equal(HubErrorKind.RevisionNotFound, rev.Kind);
    }

    [Theory]
    [InlineData("../evil.txt")]
    [InlineData("a/../../evil.txt")]
    [InlineData("/etc/evil.txt")]
    [InlineData("a\\..\\evil.txt")]
    [InlineData("C:/evil.txt")]
    [InlineData("a//b.txt")]
    public async Task FileNamesThatTryPathTraversalAreRefusedBeforeAnythingIsWritten(string name)
    {
        using var f = new HubFixture();
        f.Hub.AddRepo("Evil/Repo").AddCommit(HubFixture.Commit1, "main",
            new MockFile("config.json", Encoding.UTF8.GetBytes("{}"), lfs: false),
            new MockFile(name, Encoding.UTF8.GetBytes("pwned"), lfs: false));
        using var client = new HubClient();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Evil/Repo", f.Options()));
        Assert.Equal(HubErrorKind.UnsafePath, e.Kind);
        Assert.False(Directory.Exists(Path.Combine(f.Cache, "models--Evil--Repo")));
        Assert.False(File.Exists(Path.Combine(f.Cache, "evil.txt")));
        Assert.False(File.Exists(Path.Combine(f.Home, "evil.txt")));
        Assert.Equal(0, f.Count(r => r.Url.Contains("/resolve/")));
    }

    [Fact]
    public async Task IncludePatternsSelectFilesCaseInsensitively()
    {
        using var f = new HubFixture();
        f.Hub.AddRepo("Qwen/Tiny-GGUF").AddCommit(HubFixture.Commit1, "main",
            new MockFile("README.md", Encoding.UTF8.GetBytes("# gguf"), lfs: false),
            new MockFile("tiny-q4_k_m.gguf", MockHub.RandomBytes(5000, 2), lfs: true),
            new MockFile("tiny-q8_0.gguf", MockHub.RandomBytes(9000, 3), lfs: true));
        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny-GGUF", f.Options(include: ["*Q4_K_M.gguf"]));
        Assert.Equal(["tiny-q4_k_m.gguf"], result.Files);
        Assert.Equal(0, f.Count(r => r.Url.Contains("tiny-q8_0") || r.Url.Contains("README")));
        Assert.False(File.Exists(Path.Combine(result.SnapshotPath, "tiny-q8_0.gguf")));

        var none = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny-GGUF", f.Options(include: ["*Q2_K.gguf"])));
        Assert.Equal(HubErrorKind.EntryNotFound, none.Kind);
        Assert.Contains("tiny-q8_0.gguf", none.Message);
    }

    [Fact]
    public async Task SecondPullReusesTheCacheWithoutDownloading()
    {
        using var f = new HubFixture();
        using var client = new HubClient();
        await client.PullAsync("Qwen/Tiny", f.Options());
        int before = f.Count(r => r.Url.Contains("/resolve/") || r.Url.Contains("/cdn/"));
        var again = await client.PullAsync("Qwen/Tiny", f.Options());
        Assert.Equal(before, f.Count(r => r.Url.Contains("/resolve/") || r.Url.Contains("/cdn/")));
        Assert.Equal(0, again.FilesDownloaded);
        Assert.Equal(4, again.FilesCached);
    }

    [Fact]
    public async Task ProgressReportsBytesAndCompletion()
    {
        using var f = new HubFixture();
        using var client = new HubClient();
        var reports = new System.Collections.Concurrent.ConcurrentQueue<DownloadProgress>();
        await client.PullAsync("Qwen/Tiny", f.Options(), new SyncProgress(reports.Enqueue));
        var list = reports.ToList();
        Assert.Equal(DownloadStage.Started, list.First().Stage);
        Assert.Equal(DownloadStage.Completed, list.Last().Stage);
        long total = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1].Sum(m => (long)m.Content.Length);
        Assert.Equal(total, list.Last().TotalBytes);
        Assert.Equal(4, list.Count(p => p.Stage == DownloadStage.FileCompleted));
    }

    sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
