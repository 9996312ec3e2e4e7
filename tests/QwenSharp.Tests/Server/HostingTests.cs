using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using QwenSharp.Engine;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;

namespace QwenSharp.Tests.Server;

/// <summary>The library inside a user's own ASP.NET Core app: AddQwenSharp + MapQwenSharpOpenAi under a prefix, beside the app's own endpoints.</summary>
[Collection("Server")]
public class HostingTests
{
    [Fact]
    public async Task EndpointsMountUnderAPrefixInAnotherApp()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddQwenSharp(_ => Qwen.Load(TestServer.ModelDir(), new QwenOptions { Engine = new EngineOptions { Threads = 1, KvCacheTokens = 1024 } }),
            o => { o.WarmUp = false; o.ModelName = "tiny"; o.ApiKeys.Add("app-key"); });
        await using var app = builder.Build();
        app.MapGet("/", () => "the app's own page");
        app.MapQwenSharpOpenAi("/llm");
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(QwenServer.Addresses(app).Single()) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "app-key");

        Assert.Equal("the app's own page", await http.GetStringAsync("/"));
        Assert.Equal("tiny", (string?)JsonNode.Parse(await http.GetStringAsync("/llm/v1/models"))!["data"]![0]!["id"]);
        using var r = await http.PostAsync("/llm/v1/chat/completions", new StringContent("{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 2}"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(2, (int)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["usage"]!["completion_tokens"]!);
        Assert.Contains("vllm:num_requests_running{model_name=\"tiny\"}", await http.GetStringAsync("/llm/metrics"));
        // The app's other paths are untouched by the server's 404 handling.
        using var other = await http.GetAsync("/elsewhere");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        await app.StopAsync();
    }
}
