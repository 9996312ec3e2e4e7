using System.Text;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

public sealed class PrometheusTextTests
{
    [Fact]
    public void SumsSamplesOverLabelsSkipsCommentsAndReadsSpecialValues()
    {
        const string text = """
            # HELP vllm:num_requests_waiting Requests waiting.
            # TYPE vllm:num_requests_waiting gauge
            vllm:num_requests_waiting{model_name="a"} 2
            vllm:num_requests_waiting{model_name="b",note="has } and \" inside"} 3.5 1700000000000
            vllm:kv_cache_usage_perc 0.25
            up +Inf
            broken{model_name="x" 7
            junk line
            """;
        var sums = PrometheusText.SumByName(text);
        Assert.Equal(5.5, sums["vllm:num_requests_waiting"]);
        Assert.Equal(0.25, sums["vllm:kv_cache_usage_perc"]);
        Assert.True(double.IsPositiveInfinity(sums["up"]));
        Assert.False(sums.ContainsKey("broken"));
        Assert.Equal(0.25, PrometheusText.First(sums, ["missing", "vllm:kv_cache_usage_perc"]));
        Assert.Null(PrometheusText.First(sums, ["missing"]));
    }

    [Fact]
    public void LoadSnapshotReadsTheVllmNamesAndTheOlderKvName()
    {
        var l = LoadSnapshot.Parse("vllm:num_requests_running 4\nvllm:gpu_cache_usage_perc 0.5\nvllm:prefix_cache_hits_total 10\n", new BackendMetricNames(), DateTimeOffset.UnixEpoch);
        Assert.Equal(4, l.Running);
        Assert.Null(l.Waiting);
        Assert.Equal(0.5, l.KvCacheUsage);
        Assert.Equal(10, l.PrefixCacheHits);
    }
}

public sealed class SseGuardStreamTests
{
    /// <summary>A stream that gives its chunks one read at a time, then fails (or ends).</summary>
    sealed class ChunkStream(IEnumerable<string> chunks, bool fail) : Stream
    {
        readonly Queue<byte[]> _chunks = new(chunks.Select(Encoding.UTF8.GetBytes));
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_chunks.Count == 0) return fail ? throw new IOException("connection reset") : 0;
            var c = _chunks.Dequeue();
            c.CopyTo(buffer, offset);
            return c.Length;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set { } }
        public override void Flush() { }
        public override long Seek(long o, SeekOrigin s) => throw new NotSupportedException();
        public override void SetLength(long v) { }
        public override void Write(byte[] b, int o, int c) { }
    }

    static async Task<(string Text, int Failures)> ReadAll(IEnumerable<string> chunks, bool fail)
    {
        int failures = 0;
        using var s = new SseGuardStream(new ChunkStream(chunks, fail), _ => failures++);
        using var r = new StreamReader(s);
        return (await r.ReadToEndAsync(), failures);
    }

    [Fact]
    public async Task PassesWholeEventsAndEndsAFailedStreamWithAnErrorEventAndDone()
    {
        var (text, failures) = await ReadAll(["data: {\"a\":1}\n\n", "data: {\"b\"", ":2}\n\ndata: {\"c\":"], fail: true);
        Assert.Equal(1, failures);
        Assert.StartsWith("data: {\"a\":1}\n\ndata: {\"b\":2}\n\n", text);
        Assert.DoesNotContain("\"c\"", text); // half an event is never passed on
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var error = System.Text.Json.Nodes.JsonNode.Parse(events[^2]["data: ".Length..])!["error"]!;
        Assert.Equal("server_error", error["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task CleanStreamsAndFailuresAfterDoneAreLeftAlone()
    {
        var (clean, f1) = await ReadAll(["data: 1\r\n\r\n", "data: [DONE]\n\n"], fail: false);
        Assert.Equal("data: 1\r\n\r\ndata: [DONE]\n\n", clean);
        Assert.Equal(0, f1);
        var (afterDone, f2) = await ReadAll(["data: 1\n\ndata: [DONE]\n\n"], fail: true);
        Assert.Equal("data: 1\n\ndata: [DONE]\n\n", afterDone);
        Assert.Equal(0, f2);
    }
}

public sealed class RoutingPolicyTests
{
    static BackendPool Pool(int n, Action<RouterOptions>? configure = null)
    {
        var o = new RouterOptions();
        for (int i = 0; i < n; i++) o.Backends.Add(new BackendOptions($"http://10.0.0.{i + 1}:8080"));
        configure?.Invoke(o);
        var pool = new BackendPool(o);
        foreach (var b in pool.Backends) pool.MarkHealthy(b);
        return pool;
    }

    static PrefixKey Key(int conversation) => PrefixKey.FromChatRequest(Encoding.UTF8.GetBytes(
        $$"""{"model":"m","messages":[{"role":"user","content":"conversation {{conversation}} opening message, long enough to fill blocks of the canonical form"}]}"""), new PrefixOptions())!;

    [Fact]
    public void RendezvousMovesOnlyTheKeysOfARemovedReplica()
    {
        var pool = Pool(4);
        var before = Enumerable.Range(0, 400).Select(c => pool.Policy.Choose("m", Key(c), [])!.Backend).ToList();
        var gone = pool.Backends[2];
        pool.MarkUnhealthy(gone, "test");
        for (int c = 0; c < 400; c++)
        {
            var after = pool.Policy.Choose("m", Key(c), [])!.Backend;
            if (before[c] != gone) Assert.Same(before[c], after);
            else Assert.NotSame(gone, after);
        }
        // Rendezvous spreads: every replica got a share of 400 keys.
        foreach (var b in pool.Backends) Assert.InRange(before.Count(x => x == b), 50, 150);
    }

    [Fact]
    public void OverloadAndImbalanceSendTheRequestToTheLeastLoaded()
    {
        var pool = Pool(3, o => o.Overload.MaxLoadImbalance = 4);
        var key = Key(1);
        var preferred = pool.Policy.Choose("m", key, [])!.Backend;
        pool.Table.Forget(preferred);
        // Busy by queue length.
        preferred.SetLoad(new LoadSnapshot(Waiting: 20, Running: 1, KvCacheUsage: 0.1, null, null, DateTimeOffset.UtcNow));
        var d = pool.Policy.Choose("m", key, [])!;
        Assert.NotSame(preferred, d.Backend);
        Assert.Equal(RouteReason.LeastLoaded, d.Reason);
        pool.Table.Forget(d.Backend);
        // A stale reading is ignored.
        preferred.SetLoad(new LoadSnapshot(20, 1, 0.1, null, null, DateTimeOffset.UtcNow - TimeSpan.FromHours(1)));
        Assert.Same(preferred, pool.Policy.Choose("m", key, [])!.Backend);
        pool.Table.Forget(preferred);
        // Busier than the others by more than the imbalance allowed (running only, no queue).
        preferred.SetLoad(new LoadSnapshot(0, 6, 0.1, null, null, DateTimeOffset.UtcNow));
        var spill = pool.Policy.Choose("m", key, [])!.Backend;
        Assert.NotSame(preferred, spill);
        // ... and the least loaded of the rest is chosen.
        var other = pool.Backends.First(b => b != preferred && b != spill);
        pool.Table.Forget(spill);
        spill.SetLoad(new LoadSnapshot(0, 3, 0.1, null, null, DateTimeOffset.UtcNow));
        other.SetLoad(new LoadSnapshot(0, 1, 0.1, null, null, DateTimeOffset.UtcNow));
        Assert.Same(other, pool.Policy.Choose("m", key, [])!.Backend);
    }

    [Fact]
    public void ModelsSelectCandidatesAndExcludedOrUnhealthyReplicasAreSkipped()
    {
        var pool = Pool(3);
        pool.Backends[0].SetModels(["a"]);
        pool.Backends[1].SetModels(["b", "b:lora"]);
        pool.Backends[2].SetModels(["a"]);
        for (int c = 0; c < 20; c++)
        {
            Assert.Same(pool.Backends[1], pool.Policy.Choose("lora", Key(c), [])!.Backend);
            Assert.NotSame(pool.Backends[1], pool.Policy.Choose("a", Key(c), [])!.Backend);
            Assert.Same(pool.Backends[2], pool.Policy.Choose("a", Key(c), [pool.Backends[0]])!.Backend);
        }
        // Unknown model: any usable replica (it answers the 404 itself).
        Assert.NotNull(pool.Policy.Choose("zzz", Key(0), []));
        foreach (var b in pool.Backends) pool.MarkUnhealthy(b, "down");
        Assert.Null(pool.Policy.Choose("a", Key(0), []));
    }

    [Fact]
    public void AffinityTableForgetsLeastRecentlyUsedBeyondCapacity()
    {
        var pool = Pool(2);
        var table = new AffinityTable(3);
        var keys = Enumerable.Range(0, 4).Select(Key).ToList();
        for (int i = 0; i < 3; i++) table.Record(keys[i], pool.Backends[i % 2]);
        Assert.Same(pool.Backends[0], table.Lookup(keys[0], _ => true).Backend); // 0 becomes most recent
        table.Record(keys[3], pool.Backends[1]);                               // evicts 1
        Assert.Equal(3, table.Count);
        Assert.Null(table.Lookup(keys[1], _ => true).Backend);
        Assert.NotNull(table.Lookup(keys[0], _ => true).Backend);
        table.Forget(pool.Backends[0]);
        Assert.Null(table.Lookup(keys[0], _ => true).Backend);
    }
}
