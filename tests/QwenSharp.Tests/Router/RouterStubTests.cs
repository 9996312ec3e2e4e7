using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

/// <summary>
/// The router in front of stub replicas (<see cref="StubReplica"/>) on 127.0.0.1: affinity, spreading, streaming,
/// failures, overload, model routing, keys, merged models and metrics.
/// </summary>
public sealed class RouterStubTests
{
    const string Sys = "You are a helpful assistant. Answer briefly and precisely, and say when you do not know.";

    static async Task<StubReplica[]> Stubs(int n)
    {
        var s = new StubReplica[n];
        for (int i = 0; i < n; i++) s[i] = await StubReplica.StartAsync("r" + i);
        return s;
    }

    static async Task DisposeAll(IEnumerable<StubReplica> stubs)
    {
        foreach (var s in stubs) await s.DisposeAsync();
    }

    /// <summary>Turns of a conversation: user, assistant, user, ... long enough to cross several blocks.</summary>
    static List<string> Conversation(int id, int userTurns)
    {
        var t = new List<string>();
        for (int k = 0; k < userTurns; k++)
        {
            t.Add($"Conversation {id}, question {k}: what is {id} times {k + 7}, and why is the sky blue on day {k}?");
            if (k + 1 < userTurns) t.Add($"Answer {k} of conversation {id}: {id * (k + 7)}, because of Rayleigh scattering of sunlight by air.");
        }
        return t;
    }

    [Fact]
    public async Task SamePrefixLandsOnTheSameReplicaAndDifferentPrefixesSpread()
    {
        var stubs = await Stubs(3);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            const int conversations = 36, turns = 4;
            var replicaOf = new Dictionary<int, string>();
            for (int k = 1; k <= turns; k++)
            {
                for (int c = 0; c < conversations; c++)
                {
                    var (status, replica, _) = await router.PostAsync("/v1/chat/completions",
                        RouterUnderTest.Chat("tiny", Sys, Conversation(c, k).Take(2 * k - 1)));
                    Assert.Equal(200, status);
                    Assert.NotNull(replica);
                    if (k == 1) replicaOf[c] = replica!;
                    else Assert.Equal(replicaOf[c], replica); // every later turn follows the first
                }
            }
            // 36 different conversations over 3 replicas: each gets some (one left out: p ≈ 1e-6).
            foreach (var s in stubs) Assert.Contains(s.Name, replicaOf.Values);
            // The replicas' own prefix-cache counters saw the reuse: every conversation's later turns hit.
            long hits = stubs.Sum(s => s.PrefixCacheHits);
            Assert.True(hits > 0, "no prefix-cache hits on the replicas");
            Assert.Equal(conversations * turns, router.Pool.Metrics.Routing(RouteReason.PrefixHash) + router.Pool.Metrics.Routing(RouteReason.PrefixTable));
            Assert.True(router.Pool.Metrics.AffinityHits >= conversations * (turns - 1), $"affinity hits {router.Pool.Metrics.AffinityHits}");
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task SystemPromptSharedByAllConversationsDoesNotGlueThemToOneReplica()
    {
        var stubs = await Stubs(2);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            string longSystem = string.Concat(Enumerable.Repeat("You are the support assistant of a large shop; be polite. ", 20));
            var used = new HashSet<string>();
            for (int c = 0; c < 24; c++)
            {
                var (status, replica, _) = await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", longSystem, [$"hi {c}"]));
                Assert.Equal(200, status);
                used.Add(replica!);
            }
            Assert.Equal(2, used.Count);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task CompletionsWithTheSamePromptPrefixLandTogether()
    {
        var stubs = await Stubs(3);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            var replicaOf = new Dictionary<int, string>();
            for (int round = 0; round < 3; round++)
                for (int p = 0; p < 12; p++)
                {
                    // A client that keeps its own history: each round's prompt extends the previous one.
                    string prompt = $"<|im_start|>system\n{Sys}<|im_end|>\n<|im_start|>user\nDocument {p}: " + new string('x', 40)
                        + "<|im_end|>\n" + string.Concat(Enumerable.Range(0, round).Select(r => $"<|im_start|>assistant\nok {r}<|im_end|>\n<|im_start|>user\nmore {r}<|im_end|>\n"));
                    var (status, replica, _) = await router.PostAsync("/v1/completions", new JsonObject { ["model"] = "tiny", ["prompt"] = prompt, ["max_tokens"] = 4 });
                    Assert.Equal(200, status);
                    if (round == 0) replicaOf[p] = replica!;
                    else Assert.Equal(replicaOf[p], replica);
                }
            Assert.True(replicaOf.Values.Distinct().Count() >= 2);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task StreamIsNotBufferedFirstChunkArrivesBeforeTheStreamEnds()
    {
        var stubs = await Stubs(1);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            stubs[0].Hold(); // the replica sends its first chunk, then waits for the test
            using var sse = await router.StreamAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, ["hello"], stream: true));
            Assert.Equal("text/event-stream", sse.Response.Content.Headers.ContentType?.MediaType);
            var first = await sse.NextAsync(TimeSpan.FromSeconds(20)); // a buffering proxy would never deliver it
            Assert.NotNull(first);
            Assert.Contains("r0-0", first);
            Assert.Equal(1, Volatile.Read(ref stubs[0].Waiters));
            stubs[0].Release();
            var rest = await sse.RestAsync();
            Assert.Equal("[DONE]", rest[^1]);
            Assert.Equal(stubs[0].StreamChunks, rest.Count); // chunks 1..n-1, then [DONE]
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task KillingAReplicaMidRunGivesCleanErrorsInFlightAndLosesNoNewRequest()
    {
        var stubs = await Stubs(3);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            foreach (var s in stubs) s.Hold();
            // Twelve conversations stream at once, each held after its first chunk.
            var streams = new List<SseReader>();
            for (int c = 0; c < 12; c++)
            {
                var sse = await router.StreamAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, Conversation(c, 1), stream: true));
                Assert.NotNull(await sse.NextAsync());
                streams.Add(sse);
            }
            var victim = stubs.OrderByDescending(s => streams.Count(x => x.Replica == s.Name)).First();
            int onVictim = streams.Count(x => x.Replica == victim.Name);
            Assert.True(onVictim > 0);

            await victim.KillAsync();
            foreach (var s in stubs) s.Release();

            foreach (var sse in streams)
            {
                var rest = await sse.RestAsync();
                Assert.Equal("[DONE]", rest[^1]);
                if (sse.Replica == victim.Name)
                {
                    // An OpenAI-style error event, then [DONE]; no broken connection.
                    var error = JsonNode.Parse(rest[^2])!["error"]!;
                    Assert.Equal("server_error", error["type"]!.GetValue<string>());
                    Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
                }
                else
                {
                    Assert.DoesNotContain(rest, e => e.Contains("\"error\""));
                    Assert.Equal(stubs[0].StreamChunks, rest.Count);
                }
                sse.Dispose();
            }
            Assert.Equal(onVictim, router.Pool.Metrics.StreamErrors(router.Backend(victim).Name));
            Assert.Equal(BackendHealth.Unhealthy, router.Backend(victim).Health);

            // New requests, including the victim's own conversations: all answered, by the others.
            for (int c = 0; c < 24; c++)
            {
                var (status, replica, _) = await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, Conversation(c, 2).Take(3)));
                Assert.Equal(200, status);
                Assert.NotEqual(victim.Name, replica);
            }
            Assert.Equal(200, (int)(await router.Client.GetAsync("/ready")).StatusCode);
            Assert.Contains($"qwensharp_router_backend_up{{backend=\"{router.Backend(victim).Name}\"}} 0", await router.MetricsAsync());
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task RequestsToADeadReplicaNotYetNoticedAreRetriedElsewhere()
    {
        var stubs = await Stubs(3);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            // Learn where each conversation goes, then kill one replica; the router only finds out by failing to connect.
            var replicaOf = new Dictionary<int, string>();
            for (int c = 0; c < 18; c++)
                replicaOf[c] = (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, Conversation(c, 1)))).Replica!;
            var victim = stubs.First(s => replicaOf.ContainsValue(s.Name));
            await victim.KillAsync();
            Assert.NotEqual(BackendHealth.Unhealthy, router.Backend(victim).Health);

            var tasks = Enumerable.Range(0, 18).Select(c => router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, Conversation(c, 2).Take(3)))).ToList();
            foreach (var (status, replica, _) in await Task.WhenAll(tasks))
            {
                Assert.Equal(200, status);
                Assert.NotEqual(victim.Name, replica);
            }
            Assert.Equal(BackendHealth.Unhealthy, router.Backend(victim).Health);
            Assert.True(router.Pool.Metrics.Retries(router.Backend(victim).Name) >= 1);
            // The others kept their conversations.
            foreach (var (c, r) in replicaOf.Where(kv => kv.Value != victim.Name))
                Assert.Equal(r, (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, Conversation(c, 3).Take(5)))).Replica);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task ActiveHealthCheckTakesAnUnreadyReplicaOutAndBackIn()
    {
        var stubs = await Stubs(2);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url), o => o.HealthCheckInterval = TimeSpan.FromMilliseconds(100));
        try
        {
            stubs[0].Ready = false;
            await WaitFor(() => router.Backend(stubs[0]).Health == BackendHealth.Unhealthy);
            for (int c = 0; c < 8; c++)
                Assert.Equal(stubs[1].Name, (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, [$"q{c}"]))).Replica);
            Assert.Equal(0, stubs[0].Count);
            stubs[0].Ready = true;
            await WaitFor(() => router.Backend(stubs[0]).Health == BackendHealth.Healthy);
            var used = new HashSet<string>();
            for (int c = 0; c < 24; c++) used.Add((await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, [$"q{c}"]))).Replica!);
            Assert.Contains(stubs[0].Name, used);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task ReplicaAnswering503IsRetriedOnAnother()
    {
        var stubs = await Stubs(2);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            stubs[0].RefuseNext = 1000;
            for (int c = 0; c < 10; c++)
            {
                var (status, replica, _) = await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, [$"question {c}"]));
                Assert.Equal(200, status);
                Assert.Equal(stubs[1].Name, replica);
            }
            // With every replica refusing, the client gets the replica's 503 itself.
            stubs[1].RefuseNext = 1000;
            var (s2, _, body) = await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, ["again"]));
            Assert.Equal(503, s2);
            Assert.Equal("overloaded", JsonNode.Parse(body)!["error"]!["code"]!.GetValue<string>());
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task OverloadedReplicaSpillsToTheLeastLoadedAndTheConversationStaysThere()
    {
        var stubs = await Stubs(3);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            var conv = Conversation(5, 3);
            var first = (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, conv.Take(1)))).Replica!;
            var busy = stubs.Single(s => s.Name == first);
            busy.Waiting = 50;
            await router.CheckAllAsync();
            Assert.Equal(50, router.Backend(busy).Load!.Waiting);

            var second = (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, conv.Take(3)))).Replica!;
            Assert.NotEqual(first, second);
            Assert.Equal(1, router.Pool.Metrics.Routing(RouteReason.LeastLoaded));

            // The load is gone, but the conversation's cache is now on the second replica: it stays there.
            busy.Waiting = 0;
            await router.CheckAllAsync();
            var third = (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, conv.Take(5)))).Replica!;
            Assert.Equal(second, third);
            Assert.True(router.Pool.Metrics.Routing(RouteReason.PrefixTable) >= 1);

            // KV cache nearly full also counts as overloaded.
            var kvFull = stubs.Single(s => s.Name == third);
            kvFull.KvUsage = 0.97;
            await router.CheckAllAsync();
            Assert.NotEqual(third, (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, conv.Take(5)))).Replica);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task RoutesByModelAndAdapterAndMergesModels()
    {
        var a = await StubReplica.StartAsync("a", "alpha");
        var b = await StubReplica.StartAsync("b", "beta", "beta:sql");
        var c = await StubReplica.StartAsync("c", "alpha");
        var stubs = new[] { a, b, c };
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.Contains((await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("alpha", Sys, [$"q{i}"]))).Replica, new[] { "a", "c" });
                Assert.Equal("b", (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("beta:sql", Sys, [$"q{i}"]))).Replica);
                Assert.Equal("b", (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("sql", Sys, [$"q{i}"]))).Replica);
                Assert.Equal("b", (await router.PostAsync("/v1/completions", new JsonObject { ["model"] = "beta", ["prompt"] = $"p{i}" })).Replica);
            }
            var models = JsonNode.Parse(await router.Client.GetStringAsync("/v1/models"))!;
            Assert.Equal("list", models["object"]!.GetValue<string>());
            var ids = models["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToList();
            Assert.Equal(["alpha", "beta", "beta:sql"], ids.Order().ToList());
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task ApiKeysAreCheckedAndNotForwardedTheBackendKeyIs()
    {
        var stubs = await Stubs(1);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url), o =>
        {
            o.ApiKeys.Add("client-key");
            o.BackendApiKey = "replica-key";
        });
        try
        {
            var body = RouterUnderTest.Chat("tiny", Sys, ["hi"]);
            var (s1, _, e1) = await router.PostAsync("/v1/chat/completions", body);
            Assert.Equal(401, s1);
            Assert.Equal("invalid_api_key", JsonNode.Parse(e1)!["error"]!["code"]!.GetValue<string>());
            Assert.Equal(401, (await router.PostAsync("/v1/chat/completions", body, "wrong")).Status);
            Assert.Equal(401, (int)(await router.Client.GetAsync("/v1/models")).StatusCode);
            Assert.Equal(0, stubs[0].Count);

            Assert.Equal(200, (await router.PostAsync("/v1/chat/completions", body, "client-key")).Status);
            Assert.True(stubs[0].Received.TryPeek(out var got));
            Assert.Equal("Bearer replica-key", got.Authorization);
            // Health, readiness and metrics stay open for probes and scrapers.
            Assert.Equal(200, (int)(await router.Client.GetAsync("/metrics")).StatusCode);
            Assert.Equal(200, (int)(await router.Client.GetAsync("/ready")).StatusCode);
            router.Pool.Options.MetricsRequireKey = true;
            Assert.Equal(401, (int)(await router.Client.GetAsync("/metrics")).StatusCode);
            using var withKey = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new("Bearer", "client-key") } };
            Assert.Equal(200, (int)(await router.Client.SendAsync(withKey)).StatusCode);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task RouterAnswersItsOwnErrorsInOpenAiShape()
    {
        var stubs = await Stubs(1);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url), o => o.MaxBodyBytes = 1000);
        try
        {
            var big = new JsonObject { ["model"] = "tiny", ["prompt"] = new string('x', 2000) };
            var (s1, _, e1) = await router.PostAsync("/v1/completions", big);
            Assert.Equal(413, s1);
            Assert.Equal("request_too_large", JsonNode.Parse(e1)!["error"]!["code"]!.GetValue<string>());

            var nf = await router.Client.GetAsync("/nope");
            Assert.Equal(404, (int)nf.StatusCode);
            Assert.NotNull(JsonNode.Parse(await nf.Content.ReadAsStringAsync())!["error"]!["message"]);

            // Malformed JSON is the replica's to judge: forwarded, answered.
            using var bad = new StringContent("{not json", System.Text.Encoding.UTF8, "application/json");
            Assert.Equal(400, (int)(await router.Client.PostAsync("/v1/chat/completions", bad)).StatusCode);

            await stubs[0].KillAsync();
            var (s3, _, e3) = await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, ["hi"]));
            Assert.Equal(503, s3);
            Assert.Equal("unavailable", JsonNode.Parse(e3)!["error"]!["code"]!.GetValue<string>());
            Assert.Equal(503, (int)(await router.Client.GetAsync("/ready")).StatusCode);
            Assert.Equal(200, (int)(await router.Client.GetAsync("/health")).StatusCode);
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task MetricsCountRequestsByBackendAndStatusAndMirrorReplicaLoad()
    {
        var stubs = await Stubs(2);
        await using var router = await RouterUnderTest.StartAsync(stubs.Select(s => s.Url));
        try
        {
            for (int c = 0; c < 6; c++) await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", Sys, [$"q{c}"]));
            stubs[0].Waiting = 3;
            await router.CheckAllAsync();
            var sums = PrometheusText.SumByName(await router.MetricsAsync());
            Assert.Equal(6, sums["qwensharp_router_requests_total"]);
            Assert.Equal(6, sums["qwensharp_router_routing_total"]);
            Assert.Equal(2, sums["qwensharp_router_backend_up"]);
            Assert.Equal(3, sums["qwensharp_router_backend_waiting"]);
            // Each replica's line counts what that replica received (a replica that got none has no line).
            var text = await router.MetricsAsync();
            foreach (var stub in stubs)
            {
                string line = $"qwensharp_router_requests_total{{backend=\"{router.Backend(stub).Name}\",status=\"200\"}}";
                if (stub.Count > 0) Assert.Contains($"{line} {stub.Count}\n", text);
                else Assert.DoesNotContain(line, text);
            }
        }
        finally { await DisposeAll(stubs); }
    }

    [Fact]
    public async Task HostedInAnAppUnderAPathPrefix()
    {
        var stubs = await Stubs(2);
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddQwenSharpRouter(o =>
        {
            foreach (var s in stubs) o.Backends.Add(new BackendOptions(s.Url));
            o.BackendHeader = "X-Served-By";
        });
        await using var app = builder.Build();
        app.MapGet("/", () => "the user's own app");
        app.MapQwenSharpRouter("/llm");
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(RouterHost.Addresses(app).Single()) };
            Assert.Equal("the user's own app", await http.GetStringAsync("/"));
            using var resp = await http.PostAsync("/llm/v1/chat/completions", RouterUnderTest.Json(RouterUnderTest.Chat("tiny", Sys, ["hi"])));
            Assert.Equal(200, (int)resp.StatusCode);
            var replica = resp.Headers.GetValues("X-Replica").Single();
            var served = resp.Headers.GetValues("X-Served-By").Single();
            Assert.Equal(stubs.Single(s => s.Name == replica).Url.TrimEnd('/'), served);
            Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/v1/chat/completions", RouterUnderTest.Json(new JsonObject()))).StatusCode);
            Assert.Contains("qwensharp_router_requests_total", await http.GetStringAsync("/llm/metrics"));
            Assert.Equal("tiny", JsonNode.Parse(await http.GetStringAsync("/llm/v1/models"))!["data"]![0]!["id"]!.GetValue<string>());
        }
        finally
        {
            await app.StopAsync();
            await DisposeAll(stubs);
        }
    }

    static async Task WaitFor(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition()) await Task.Delay(20, cts.Token);
    }
}
