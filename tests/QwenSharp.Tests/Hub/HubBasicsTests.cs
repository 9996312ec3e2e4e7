using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

public class HubBasicsTests
{
    [Theory]
    [InlineData("Qwen/Qwen3-0.6B", "Qwen", "Qwen3-0.6B", null)]
    [InlineData("Qwen/Qwen2.5-7B-Instruct-GGUF@main", "Qwen", "Qwen2.5-7B-Instruct-GGUF", "main")]
    [InlineData("user_1/my.model@refs/pr/1", "user_1", "my.model", "refs/pr/1")]
    public void RepoIdsParse(string text, string owner, string name, string? revision)
    {
        Assert.True(RepoId.TryParse(text, out var id, out var rev));
        Assert.Equal(owner, id.Owner);
        Assert.Equal(name, id.Name);
        Assert.Equal(revision, rev);
        Assert.Equal($"models--{owner}--{name}", id.CacheFolderName);
    }

    [Theory]
    [InlineData("Qwen3-0.6B")]
    [InlineData("a/b/c")]
    [InlineData("../x")]
    [InlineData("Qwen/x--y")]
    [InlineData("Qwen/.hidden")]
    [InlineData("Qwen/x@../../etc")]
    [InlineData("Qwen/x@")]
    [InlineData("/abs/path")]
    [InlineData("Qwen/x y")]
    public void BadRepoIdsAreRejected(string text) => Assert.False(RepoId.TryParse(text, out _, out _));

    [Theory]
    [InlineData("config.json", true)]
    [InlineData("sub/dir/file.bin", true)]
    [InlineData("..", false)]
    [InlineData("../x", false)]
    [InlineData("a/../x", false)]
    [InlineData("/x", false)]
    [InlineData("a\\b", false)]
    [InlineData("C:x", false)]
    [InlineData("a//b", false)]
    [InlineData("a/./b", false)]
    [InlineData("a/", false)]
    [InlineData("", false)]
    [InlineData("a\nb", false)]
    public void RepoPathsAreChecked(string path, bool ok) => Assert.Equal(ok, RepoPath.Problem(path) == null);

    [Fact]
    public void CombineNeverLeavesTheRoot()
    {
        var root = TestPaths.NewTempDir();
        Assert.StartsWith(root, RepoPath.Combine(root, "a/b.txt", "t"));
        Assert.Throws<HubException>(() => RepoPath.Combine(root, "../b.txt", "t"));
    }

    [Theory]
    [InlineData("*Q4_K_M.gguf", "qwen2.5-7b-instruct-q4_k_m.gguf", true)]
    [InlineData("*Q4_K_M.gguf", "Qwen3-8B-Q4_K_M.gguf", true)]
    [InlineData("*Q4_K_M.gguf", "Qwen3-8B-Q5_K_M.gguf", false)]
    [InlineData("*q8_0*.gguf", "x-q8_0-00001-of-00003.gguf", true)]
    [InlineData("*.json", "sub/config.json", true)]
    [InlineData("sub/", "sub/a/b.txt", true)]
    [InlineData("model-0000?-of-00002.safetensors", "model-00001-of-00002.safetensors", true)]
    [InlineData("[!m]*", "model.bin", false)]
    [InlineData("[ab]*", "b.txt", true)]
    public void GlobPatternsMatchLikeFnmatchIgnoringCase(string pattern, string path, bool match) =>
        Assert.Equal(match, new GlobPattern(pattern).IsMatch(path));

    [Fact]
    public void EnvironmentFollowsHuggingFaceHubRules()
    {
        var home = TestPaths.NewTempDir();
        var d = new Dictionary<string, string?> { ["HOME"] = home };
        var env = HubEnvironment.FromVariables(n => d.GetValueOrDefault(n));
        Assert.Equal(Path.Combine(home, ".cache", "huggingface", "hub"), env.CacheDir);
        Assert.Equal("https://huggingface.co", env.Endpoint);
        Assert.False(env.Offline);
        Assert.Null(env.Token);

        d["XDG_CACHE_HOME"] = Path.Combine(home, "xdg");
        Assert.Equal(Path.Combine(home, "xdg", "huggingface", "hub"), HubEnvironment.FromVariables(n => d.GetValueOrDefault(n)).CacheDir);
        d["HF_HOME"] = Path.Combine(home, "hf");
        Directory.CreateDirectory(d["HF_HOME"]!);
        File.WriteAllText(Path.Combine(d["HF_HOME"]!, "token"), "hf_fromfile\n");
        env = HubEnvironment.FromVariables(n => d.GetValueOrDefault(n));
        Assert.Equal(Path.Combine(home, "hf", "hub"), env.CacheDir);
        Assert.Equal("hf_fromfile", env.Token);
        d["HF_HUB_CACHE"] = Path.Combine(home, "c");
        d["HF_TOKEN"] = "hf_env";
        d["HF_ENDPOINT"] = "https://mirror.example/";
        d["HF_HUB_OFFLINE"] = "true";
        env = HubEnvironment.FromVariables(n => d.GetValueOrDefault(n));
        Assert.Equal(Path.Combine(home, "c"), env.CacheDir);
        Assert.Equal("hf_env", env.Token);
        Assert.Equal("https://mirror.example", env.Endpoint);
        Assert.True(env.Offline);
        d["HF_HUB_OFFLINE"] = "0";
        Assert.False(HubEnvironment.FromVariables(n => d.GetValueOrDefault(n)).Offline);
    }

    [Fact]
    public void GitBlobIdMatchesGit()
    {
        // `printf 'hello\n' | git hash-object --stdin` prints ce013625030ba8dba906f756967f9e9ca394464a.
        Assert.Equal("ce013625030ba8dba906f756967f9e9ca394464a", ContentHash.GitBlobId("hello\n"u8));
    }
}
