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

    [Fact]
    public async Task RouterCommandListensAndForwardsToItsReplica()
    {
        await using var stub = await StubReplica.StartAsync("r0");
        await using var router = await CliProcess.StartAsync(["router", "--backend", stub.Url, "--port", "0", "--health-interval", "0.2"]);
        using var http = new HttpClient { BaseAddress = new Uri(router.Url) };
        using var resp = await http.PostAsync("/v1/chat/completions", RouterUnderTest.Json(RouterUnderTest.Chat("tiny", "Be brief.", ["hi"])));
        Assert.Equal(200, (int)resp.StatusCode);
        Assert.Equal("r0", resp.Headers.GetValues("X-Replica").Single());
        Assert.Contains($"qwensharp_router_requests_total{{backend=\"{stub.Url.TrimEnd('/')}\",status=\"200\"}} 1", await http.GetStringAsync("/metrics"));
        Assert.Contains("router listening on http://127.0.0.1:", router.Log);
    }
}
