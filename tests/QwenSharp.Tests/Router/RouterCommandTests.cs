using QwenSharp.Tests.Cli;

namespace QwenSharp.Tests.Router;

public sealed class RouterCommandTests
{
    [Theory]
    [InlineData(new[] { "router" }, "--backend")]
    [InlineData(new[] { "router", "--backend", "not-a-url" }, "--backend")]
    [InlineData(new[] { "router", "--backend-dns", "replicas:8080" }, "--backend-dns")]
    [InlineData(new[] { "router", "--backend", "ftp://x:1" }, "--backend")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--host", "0.0.0.0" }, "--api-key")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--backend", "http://127.0.0.1:9/" }, "twice")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--port", "70000" }, "--port")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--health-interval", "0" }, "--health-interval")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--max-kv-usage", "2" }, "--max-kv-usage")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--api-keys-file", "no/such/file" }, "--api-keys-file")]
    [InlineData(new[] { "router", "--backend", "http://127.0.0.1:9", "--api-key", "two words" }, "--api-key")]
    public void BadArgumentsAreOneLineErrors(string[] args, string mention)
    {
        var (code, _, err) = CliRunner.Run(args);
        Assert.NotEqual(0, code);
        Assert.Contains(mention, err);
        Assert.DoesNotContain("   at ", err);
    }
}
