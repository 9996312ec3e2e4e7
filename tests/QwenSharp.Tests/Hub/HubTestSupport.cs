using System.Text;
using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

/// <summary>A mock Hub with one model repository and an isolated cache.</summary>
public sealed class HubFixture : IDisposable
{
    public const string Commit1 = "1111111111111111111111111111111111111111";
    public const string Commit2 = "2222222222222222222222222222222222222222";
    public MockHub Hub { get; } = new();
    public string Home { get; } = TestPaths.NewTempDir();
    public string Cache => Path.Combine(Home, "hub");

    public HubFixture()
    {
        // A small model repository: small text files (git) and an LFS weight file (redirected to the CDN).
        Hub.AddRepo("Qwen/Tiny").AddCommit(Commit1, "main",
            new MockFile("config.json", Encoding.UTF8.GetBytes("{\"model_type\":\"qwen3\",\"hidden_size\":8}"), lfs: false),
            new MockFile("tokenizer.json", Encoding.UTF8.GetBytes("{\"version\":\"1.0\"}"), lfs: false),
            new MockFile("model.safetensors", MockHub.RandomBytes(300_000, 1), lfs: true),
            new MockFile("sub/extra.txt", Encoding.UTF8.GetBytes("nested"), lfs: false));
    }

    public HubEnvironment Env(bool offline = false, string? token = null) => HubEnvironment.FromVariables(name => name switch
    {
        "HF_HOME" => Home,
        "HF_ENDPOINT" => Hub.Endpoint,
        "HF_HUB_OFFLINE" => offline ? "1" : null,
        "HF_TOKEN" => token,
        "HOME" => Home,
        _ => null,
    });

    public PullOptions Options(bool offline = false, string? token = null, int maxRetries = 5, IReadOnlyList<string>? include = null) =>
        new() { Environment = Env(offline, token), MaxRetries = maxRetries, Include = include ?? [] };

    public int Count(Func<(string Method, string Url, string? Range, string? Authorization), bool> predicate) => Hub.Log.Count(predicate);

    public void Dispose()
    {
        Hub.Dispose();
        try { Directory.Delete(Home, recursive: true); } catch (IOException) { }
    }
}
