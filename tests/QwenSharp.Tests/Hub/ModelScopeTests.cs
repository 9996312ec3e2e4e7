using System.Text;
using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

public class ModelScopeTests
{
    static PullOptions MsOptions(HubFixture f, string? revision = null) => new()
    {
        Environment = f.Env(), Source = HubSource.ModelScope, Endpoint = f.Hub.Endpoint, Revision = revision,
    };

    [Fact]
    public async Task PullFromModelScopeGoesIntoTheSameCache()
    {
        using var f = new HubFixture();
        var repo = f.Hub.Repos["Qwen/Tiny"];
        repo.Refs["master"] = HubFixture.Commit1;
        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny", MsOptions(f));

        Assert.Equal(HubSource.ModelScope, result.Source);
        Assert.Equal(HubFixture.Commit1, result.Commit);
        string folder = Path.Combine(f.Cache, "models--Qwen--Tiny");
        Assert.Equal(HubFixture.Commit1, File.ReadAllText(Path.Combine(folder, "refs", "master")));
        foreach (var mf in repo.Commits[HubFixture.Commit1])
        {
            Assert.Equal(mf.Content, File.ReadAllBytes(Path.Combine(result.SnapshotPath, mf.Path)));
            Assert.True(File.Exists(Path.Combine(folder, "blobs", mf.Sha256))); // ModelScope blobs are named by SHA-256
        }
        Assert.True(f.Count(r => r.Url.Contains("/api/v1/models/Qwen/Tiny/repo/files") && r.Url.Contains("Revision=master")) > 0);
        Assert.True(f.Count(r => r.Url.Contains("/api/v1/models/Qwen/Tiny/repo?") && r.Url.Contains("FilePath=")) > 0);
        Assert.Equal(0, f.Count(r => r.Url.Contains("/resolve/")));
    }

    [Fact]
    public async Task ModelScopeDownloadsResumeAndVerify()
    {
        using var f = new HubFixture();
        f.Hub.Repos["Qwen/Tiny"].Refs["master"] = HubFixture.Commit1;
        f.Hub.DropAfter["model.safetensors"] = 77_777;
        using var client = new HubClient();
        var result = await client.PullAsync("Qwen/Tiny", MsOptions(f));
        var lfs = f.Hub.Repos["Qwen/Tiny"].Commits[HubFixture.Commit1].Single(m => m.Path == "model.safetensors");
        Assert.Equal(lfs.Content, File.ReadAllBytes(Path.Combine(result.SnapshotPath, "model.safetensors")));
        Assert.Equal(1, f.Count(r => r.Url.Contains("/cdn/") && r.Range == "bytes=77777-"));

        f.Hub.Corrupt["config.json"] = true;
        f.Hub.AddRepo("Qwen/Other").AddCommit(HubFixture.Commit2, "master", new MockFile("config.json", Encoding.UTF8.GetBytes("{\"a\":1}"), lfs: false));
        var e = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Other", MsOptions(f)));
        Assert.Equal(HubErrorKind.Integrity, e.Kind);
    }

    [Fact]
    public async Task UnknownModelScopeRevisionListsTheKnownOnes()
    {
        using var f = new HubFixture();
        f.Hub.Repos["Qwen/Tiny"].Refs["master"] = HubFixture.Commit1;
        using var client = new HubClient();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PullAsync("Qwen/Tiny", MsOptions(f, "v2")));
        Assert.Equal(HubErrorKind.RevisionNotFound, e.Kind);
        Assert.Contains("master", e.Message);
    }

    [Fact]
    public void SourceComesFromQwensharpSourceVariable()
    {
        var env = HubEnvironment.FromVariables(n => n == "QWENSHARP_SOURCE" ? "modelscope" : n == "HOME" ? "/tmp" : null);
        Assert.Equal(HubSource.ModelScope, env.Source);
        using var client = new HubClient();
        Assert.IsType<ModelScopeSource>(client.CreateSource(new PullOptions { Environment = env }));
        Assert.Throws<HubException>(() => HubEnvironment.FromVariables(n => n == "QWENSHARP_SOURCE" ? "ftp" : null));
    }
}
