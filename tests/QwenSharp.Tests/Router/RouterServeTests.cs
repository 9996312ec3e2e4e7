using System.Text.Json.Nodes;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

/// <summary>
/// The router in front of real `qwensharp serve` processes (fixture model qwen3-tiny) on 127.0.0.1: prefix affinity
/// seen through the replicas' own prefix-cache counters, spreading, and a replica killed mid-run.
/// </summary>
[Collection("RouterServe")]
public sealed class RouterServeTests
{
    const string Model = "qwen3-tiny";
    const string Sys = "You are a helpful assistant. Answer briefly and precisely.";

    static async Task<CliProcess[]> Replicas(int n) => await Task.WhenAll(Enumerable.Range(0, n).Select(_ => CliProcess.StartServeAsync()));

    static async Task DisposeAll(IEnumerable<CliProcess> replicas)
    {
        foreach (var r in replicas) await r.DisposeAsync();
    }

    static JsonObject Chat(int conversation, JsonArray history, bool stream = false, int maxTokens = 4)
    {
        var messages = new JsonArray { new JsonObject { ["role"] = "system", ["content"] = Sys } };
        foreach (var m in history) messages.Add(m!.DeepClone());
        var body = new JsonObject { ["model"] = Model, ["messages"] = messages, ["max_tokens"] = maxTokens, ["temperature"] = 0 };
        if (stream)
        {
            body["stream"] = true;
            body["ignore_eos"] = true;
        }
        return body;
    }

    static JsonObject User(int conversation, int turn) => new()
    {
        ["role"] = "user",
        ["content"] = $"Conversation {conversation}, turn {turn}: tell me about the number {conversation * 31 + turn} and its factors.",
    };

    /// <summary>Each replica's prompt-token and prefix-cache-hit counters.</summary>
    static async Task<(double[] PromptTokens, double[] PrefixHits)> Read(CliProcess[] replicas)
    {
        var all = await Task.WhenAll(replicas.Select(r => r.MetricsAsync()));
        return (all.Select(m => m.GetValueOrDefault("vllm:prompt_tokens_total")).ToArray(), all.Select(m => m.GetValueOrDefault("vllm:prefix_cache_hits_total")).ToArray());
    }

    [Fact]
    public async Task SamePrefixLandsOnTheReplicaWhosePrefixCacheHitsAndDifferentPrefixesSpread()
    {
        var replicas = await Replicas(3);
        await using var router = await RouterUnderTest.StartAsync(replicas.Select(r => r.Url));
        try
        {
            const int conversations = 10, turns = 3;
            var home = new int[conversations];
            var (prompt0, hits0) = await Read(replicas);
            for (int c = 0; c < conversations; c++)
            {
                var history = new JsonArray();
                for (int t = 0; t < turns; t++)
                {
                    history.Add(User(c, t));
                    var (status, _, body) = await router.PostAsync("/v1/chat/completions", Chat(c, history));
                    Assert.True(status == 200, body);
                    var (prompt1, hits1) = await Read(replicas);
                    // Exactly one replica processed this request's prompt.
                    var served = Enumerable.Range(0, replicas.Length).Where(i => prompt1[i] > prompt0[i]).ToList();
                    Assert.Single(served);
                    if (t == 0) home[c] = served[0];
                    else
                    {
                        // Later turns go back to the same replica, and its prefix cache serves the earlier turns.
                        Assert.Equal(home[c], served[0]);
                        Assert.True(hits1[home[c]] > hits0[home[c]], $"conversation {c} turn {t}: no prefix-cache hit on replica {home[c]}");
                    }
                    var answer = JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
                    history.Add(new JsonObject { ["role"] = "assistant", ["content"] = answer });
                    (prompt0, hits0) = (prompt1, hits1);
                }
            }
            // Ten different conversations over three replicas: more than one replica is used (all on one: p = 3^-9).
            Assert.True(home.Distinct().Count() >= 2, "every conversation went to one replica");
            Assert.Equal(conversations * turns, router.Pool.Metrics.Routing(RouteReason.PrefixHash) + router.Pool.Metrics.Routing(RouteReason.PrefixTable));
        }
        finally { await DisposeAll(replicas); }
    }

    [Fact]
    public async Task KillingAReplicaMidRunGivesCleanErrorsInFlightLosesNothingNotStartedAndKeepsServing()
    {
        var replicas = await Replicas(3);
        await using var router = await RouterUnderTest.StartAsync(replicas.Select(r => r.Url), o => o.BackendHeader = "X-Replica");
        try
        {
            // Long streams (ignore_eos) in flight on the replicas.
            var streams = new List<SseReader>();
            for (int c = 0; c < 6; c++)
            {
                var sse = await router.StreamAsync("/v1/chat/completions", Chat(c, [User(c, 0)], stream: true, maxTokens: 3800));
                Assert.Equal(200, (int)sse.Response.StatusCode);
                Assert.NotNull(await sse.NextAsync(TimeSpan.FromSeconds(60)));
                streams.Add(sse);
            }
            var victim = router.Pool.Backends.MaxBy(b => b.InFlight)!;
            int inFlightOnVictim = victim.InFlight;
            Assert.True(inFlightOnVictim > 0);
            replicas.Single(r => r.Url.TrimEnd('/') == victim.Name).Kill();

            // Requests that had not started when the replica died: every one answered.
            var fresh = await Task.WhenAll(Enumerable.Range(100, 9).Select(c => router.PostAsync("/v1/chat/completions", Chat(c, [User(c, 0)]))));
            Assert.All(fresh, f => Assert.True(f.Status == 200, f.Body));

            // The victim's streams end cleanly with an OpenAI-style error event then [DONE]; the others keep streaming.
            int errors = 0;
            foreach (var sse in streams)
            {
                if (sse.Replica == victim.Name)
                {
                    var events = await sse.RestAsync();
                    Assert.Equal("[DONE]", events[^1]);
                    var error = JsonNode.Parse(events[^2])!["error"]!;
                    Assert.Equal("server_error", error["type"]!.GetValue<string>());
                    Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
                    errors++;
                }
                else
                {
                    for (int i = 0; i < 3; i++)
                    {
                        var e = await sse.NextAsync(TimeSpan.FromSeconds(60));
                        Assert.NotNull(e);
                        Assert.DoesNotContain("\"error\"", e);
                    }
                }
                sse.Dispose();
            }
            Assert.Equal(inFlightOnVictim, errors);
            Assert.Equal(BackendHealth.Unhealthy, victim.Health);

            // The router keeps serving, on the replicas left.
            Assert.Equal(200, (int)(await router.Client.GetAsync("/ready")).StatusCode);
            for (int c = 0; c < 6; c++)
                Assert.Equal(200, (await router.PostAsync("/v1/chat/completions", Chat(c, [User(c, 0)]))).Status);
            var models = JsonNode.Parse(await router.Client.GetStringAsync("/v1/models"))!["data"]!.AsArray();
            Assert.Equal(Model, Assert.Single(models)!["id"]!.GetValue<string>());
        }
        finally { await DisposeAll(replicas); }
    }
}
