using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;
using QwenSharp.Server.Security;

namespace QwenSharp.Tests.Server;

/// <summary>API keys, bind-address rules, rate limits, body limits, logs without prompt text, errors without internals.</summary>
[Collection("Server")]
public class SecurityTests
{
    const string Chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 2}";

    static JsonObject ErrorOf(string body) => JsonNode.Parse(body)!["error"]!.AsObject();

    [Fact]
    public async Task ApiKeysAreRequiredOnTheApiButNotOnProbes()
    {
        await using var s = await TestServer.StartAsync(o => { o.ApiKeys.Add("sk-right-key-1"); o.ApiKeys.Add("sk-other-key-2"); });
        using (var none = await s.PostAsync("/v1/chat/completions", Chat))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("invalid_api_key", (string?)ErrorOf(await none.Content.ReadAsStringAsync())["code"]);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        }
        using (var wrong = await s.PostAsync("/v1/chat/completions", Chat, "sk-right-key-X"))
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using (var prefix = await s.PostAsync("/v1/chat/completions", Chat, "sk-right-key-10"))
            Assert.Equal(HttpStatusCode.Unauthorized, prefix.StatusCode);
        using (var right = await s.PostAsync("/v1/chat/completions", Chat, "sk-right-key-1"))
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        using (var other = await s.PostAsync("/v1/chat/completions", Chat, "sk-other-key-2"))
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        // Every API route needs the key, even /v1/models, /tokenize and unknown paths.
        foreach (var path in new[] { "/v1/models", "/v1/nothing" })
        {
            using var r = await s.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }
        using (var tok = await s.PostAsync("/tokenize", "{\"prompt\": \"x\"}"))
            Assert.Equal(HttpStatusCode.Unauthorized, tok.StatusCode);
        // Probes and metrics stay open (MetricsRequireKey is off by default).
        using (var h = await s.Http.GetAsync("/health")) Assert.Equal(HttpStatusCode.OK, h.StatusCode);
        using (var m = await s.Http.GetAsync("/metrics")) Assert.Equal(HttpStatusCode.OK, m.StatusCode);

        // The official client with the right key works; with a wrong one it gets a 401.
        ChatClient Client(string key) => new("qwen3-tiny", new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(s.BaseUri, "/v1") });
        var ok = await Client("sk-other-key-2").CompleteChatAsync([new UserChatMessage("Hi")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        Assert.Equal(2, ok.Value.Usage.OutputTokenCount);
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client("nope").CompleteChatAsync([new UserChatMessage("Hi")]));
        Assert.Equal(401, e.Status);
    }

    [Fact]
    public async Task MetricsCanRequireAKey()
    {
        await using var s = await TestServer.StartAsync(o => { o.ApiKeys.Add("k1"); o.MetricsRequireKey = true; });
        using (var r = await s.Http.GetAsync("/metrics")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        var req = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k1");
        using var ok = await s.Http.SendAsync(req);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("vllm:num_requests_waiting", await ok.Content.ReadAsStringAsync());
    }

    [Fact]
    public void KeyStoreMatchesWholeKeysOnly()
    {
        var store = new ApiKeyStore(["alpha-key", "beta-key"]);
        Assert.True(store.Enabled);
        Assert.NotNull(store.Find("alpha-key"));
        Assert.NotNull(store.Find("beta-key"));
        Assert.NotEqual(store.Find("alpha-key"), store.Find("beta-key"));
        Assert.Null(store.Find("alpha-ke"));
        Assert.Null(store.Find("alpha-key "));
        Assert.Null(store.Find(""));
        // Identities never contain the key itself.
        Assert.DoesNotContain("alpha", store.Find("alpha-key")!);
        Assert.False(new ApiKeyStore([]).Enabled);
        Assert.Throws<ArgumentException>(() => new ApiKeyStore(["has space"]));
    }

    [Fact]
    public void KeysFileSkipsCommentsAndRejectsBadLines()
    {
        var dir = TestPaths.NewTempDir();
        var good = Path.Combine(dir, "keys.txt");
        File.WriteAllText(good, "# team keys\nkey-one\n\n  key-two  \n");
        Assert.Equal(["key-one", "key-two"], ApiKeyStore.ReadKeysFile(good));
        var bad = Path.Combine(dir, "bad.txt");
        File.WriteAllText(bad, "key one\n");
        Assert.Contains("bad.txt:1", Assert.Throws<FormatException>(() => ApiKeyStore.ReadKeysFile(bad)).Message);
        var empty = Path.Combine(dir, "empty.txt");
        File.WriteAllText(empty, "# nothing\n");
        Assert.Throws<FormatException>(() => ApiKeyStore.ReadKeysFile(empty));
    }

    [Theory]
    [InlineData("127.0.0.1", false, false, true)]
    [InlineData("localhost", false, false, true)]
    [InlineData("::1", false, false, true)]
    [InlineData("0.0.0.0", false, false, false)]
    [InlineData("::", false, false, false)]
    [InlineData("192.168.1.10", false, false, false)]
    [InlineData("0.0.0.0", true, false, true)]
    [InlineData("0.0.0.0", false, true, true)]
    public void WithoutKeysOnlyLoopbackIsAllowed(string host, bool keys, bool insecure, bool allowed)
    {
        var o = new QwenServerOptions { AllowInsecure = insecure };
        if (keys) o.ApiKeys.Add("k");
        if (allowed) QwenServer.CheckHost(host, o);
        else Assert.Contains("without API keys", Assert.Throws<ServerConfigurationException>(() => QwenServer.CheckHost(host, o)).Message);
    }

    [Fact]
    public void ServeRefusesAPublicAddressWithoutKeysBeforeLoadingTheModel()
    {
        var (code, _, err) = Cli.Run("serve", "--model", TestServer.ModelDir(), "--host", "0.0.0.0");
        Assert.Equal(2, code);
        Assert.Contains("without API keys", err);
        Assert.Single(err.Trim().Split('\n'));
        (code, _, err) = Cli.Run("serve", "--model", TestServer.ModelDir(), "--host", "example.org");
        Assert.Equal(2, code);
        Assert.Contains("not an IP address", err);
        (code, _, err) = Cli.Run("serve", "--model", TestServer.ModelDir(), "--api-keys-file", Path.Combine(TestPaths.NewTempDir(), "missing.txt"));
        Assert.Equal(2, code);
        Assert.Contains("--api-keys-file", err);
        (code, _, err) = Cli.Run("serve", "--model", TestServer.ModelDir(), "--chat-template-kwargs", "[1]");
        Assert.Equal(2, code);
        Assert.Contains("--chat-template-kwargs", err);
        (code, _, err) = Cli.Run("serve", "--model", TestServer.ModelDir(), "--port", "70000");
        Assert.Equal(2, code);
        Assert.Contains("--port", err);
    }

    [Fact]
    public async Task RequestsPerMinuteArePerKey()
    {
        await using var s = await TestServer.StartAsync(o => { o.ApiKeys.Add("key-a"); o.ApiKeys.Add("key-b"); o.RequestsPerMinute = 2; });
        for (int i = 0; i < 2; i++)
        {
            using var ok = await s.PostAsync("/v1/chat/completions", Chat, "key-a");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using var limited = await s.PostAsync("/v1/chat/completions", Chat, "key-a");
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        var error = ErrorOf(await limited.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_exceeded", (string?)error["code"]);
        Assert.Equal("requests", (string?)error["type"]);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is set");
        // Another key has its own budget; bad keys are refused, not counted.
        using var b = await s.PostAsync("/v1/chat/completions", Chat, "key-b");
        Assert.Equal(HttpStatusCode.OK, b.StatusCode);
        using var bad = await s.PostAsync("/v1/chat/completions", Chat, "key-zzz");
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
    }

    [Fact]
    public async Task TokensPerMinuteCountPromptAndCompletion()
    {
        await using var s = await TestServer.StartAsync(o => { o.ApiKeys.Add("key-a"); o.TokensPerMinute = 100; });
        string body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 85, \"ignore_eos\": true}";
        var (status, first) = await s.PostJsonAsync("/v1/chat/completions", body, "key-a");
        Assert.Equal(200, status);
        int prompt = (int)first["usage"]!["prompt_tokens"]!;
        Assert.True(prompt > 8, $"the test needs a prompt over 8 tokens, got {prompt}");
        // The prompt and the 85 completion tokens used the window: less than the next prompt is left.
        using var limited = await s.PostAsync("/v1/chat/completions", body, "key-a");
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Equal("tokens", (string?)ErrorOf(await limited.Content.ReadAsStringAsync())["type"]);
        Assert.NotNull(limited.Headers.RetryAfter);
        // A prompt larger than the whole budget is refused outright.
        string big = "{\"messages\": [{\"role\": \"user\", \"content\": \"" + string.Concat(Enumerable.Repeat("word ", 200)) + "\"}]}";
        using var tooBig = await s.PostAsync("/v1/chat/completions", big, "key-a");
        Assert.Equal((HttpStatusCode)429, tooBig.StatusCode);
        Assert.Contains("limit is 100 tokens", (string?)ErrorOf(await tooBig.Content.ReadAsStringAsync())["message"]);
    }

    [Fact]
    public async Task HugeBodiesAre413()
    {
        await using var s = await TestServer.StartAsync(o => o.MaxBodyBytes = 64 * 1024);
        // Over the limit, but small enough to sit whole in the loopback socket buffers: with a much larger body the
        // server's 413 and close can race the client's upload, which then sees a reset instead of the answer.
        string huge = "{\"messages\": [{\"role\": \"user\", \"content\": \"" + new string('a', 100 * 1024) + "\"}]}";
        using (var r = await s.PostAsync("/v1/chat/completions", huge))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
            Assert.Equal("request_too_large", (string?)ErrorOf(await r.Content.ReadAsStringAsync())["code"]);
        }
        // Without a Content-Length (chunked), the limit holds while reading. The server answers and closes once the
        // limit is passed; a client still writing the rest of the body can then see a broken pipe instead of the
        // answer (a race, seen once in CI): such an attempt is repeated, any answer but 413 fails.
        HttpStatusCode? chunked = null;
        for (int attempt = 0; attempt < 5 && chunked == null; attempt++)
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new ChunkedContent(Encoding.UTF8.GetBytes(huge)) };
            try
            {
                using var r = await s.Http.SendAsync(req);
                chunked = r.StatusCode;
            }
            catch (HttpRequestException e) when (e.InnerException is IOException) { /* the upload lost the race */ }
        }
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked);
        // Just under the limit is fine.
        using (var ok = await s.PostAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"" + new string('b', 1000) + "\"}], \"max_tokens\": 1}"))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    sealed class ChunkedContent(byte[] data) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (int i = 0; i < data.Length; i += 8192) await stream.WriteAsync(data.AsMemory(i, Math.Min(8192, data.Length - i)));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task CapsOnPromptAndMaxTokens()
    {
        await using var s = await TestServer.StartAsync(o => { o.MaxPromptTokens = 50; o.MaxTokensCap = 5; });
        var (status, json) = await s.PostJsonAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"" + string.Concat(Enumerable.Repeat("word ", 80)) + "\"}]}");
        Assert.Equal(400, status);
        Assert.Equal("context_length_exceeded", (string?)json["error"]!["code"]);
        (status, json) = await s.PostJsonAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 6}");
        Assert.Equal(422, status);
        Assert.Equal("max_tokens", (string?)json["error"]!["param"]);
        // Without max_tokens the cap is the default.
        (status, json) = await s.PostJsonAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"ignore_eos\": true}");
        Assert.Equal(200, status);
        Assert.Equal(5, (int)json["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task LogsCarryNoPromptOrCompletionTextUnlessAskedTo()
    {
        const string secret = "zebra-quartz-4471";
        string body = "{\"messages\": [{\"role\": \"user\", \"content\": \"my secret is " + secret + "\"}], \"max_tokens\": 3}";
        await using (var quiet = await TestServer.StartAsync())
        {
            var (status, json) = await quiet.PostJsonAsync("/v1/chat/completions", body);
            Assert.Equal(200, status);
            string output = (string)json["choices"]![0]!["message"]!["content"]!;
            await quiet.PostJsonAsync("/v1/chat/completions", body.Replace("\"max_tokens\": 3", "\"max_tokens\": 3, \"temperature\": \"" + secret + "\""));
            await quiet.PostJsonAsync("/v1/completions", "{\"prompt\": \"" + secret + "\", \"max_tokens\": 2}");
            Assert.Contains(quiet.Logs.Lines, l => l.Contains("chat.completions") && l.Contains("status=200"));
            Assert.DoesNotContain(quiet.Logs.Lines, l => l.Contains(secret));
            if (output.Trim().Length >= 4) Assert.DoesNotContain(quiet.Logs.Lines, l => l.Contains(output.Trim()));
        }
        await using var loud = await TestServer.StartAsync(o => o.LogPrompts = true);
        await loud.PostJsonAsync("/v1/chat/completions", body);
        Assert.Contains(loud.Logs.Lines, l => l.Contains(secret));
    }

    [Fact]
    public async Task InternalFailuresAre500WithoutDetails()
    {
        await using var s = await TestServer.StartAsync(o => o.ConfigureGeneration = _ => throw new InvalidOperationException("secret internal detail"));
        using var r = await s.PostAsync("/v1/chat/completions", Chat);
        Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode);
        string body = await r.Content.ReadAsStringAsync();
        var e = ErrorOf(body);
        Assert.Equal("server_error", (string?)e["type"]);
        Assert.DoesNotContain("secret internal detail", body);
        Assert.DoesNotContain(" at ", body);
        // The log has the details for the operator.
        Assert.Contains(s.Logs.Lines, l => l.Contains("secret internal detail"));
    }
}

/// <summary>Runs the qwensharp command in-process.</summary>
static class Cli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = QwenSharp.Cli.Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
