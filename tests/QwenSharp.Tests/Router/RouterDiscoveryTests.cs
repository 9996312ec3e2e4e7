using System.Net;
using System.Net.Sockets;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

/// <summary>Replicas found through DNS (a Kubernetes headless Service): stubs on 127.0.0.2, .3, .4 with one port,
/// and a resolver the test controls.</summary>
public sealed class RouterDiscoveryTests
{
    static readonly IPAddress A = IPAddress.Parse("127.0.0.2"), B = IPAddress.Parse("127.0.0.3"), C = IPAddress.Parse("127.0.0.4");

    /// <summary>Three stubs on three loopback addresses sharing one port (retried if another program holds it on one of them).</summary>
    static async Task<(StubReplica[] Stubs, int Port)> StubsOnOnePort()
    {
        for (int attempt = 0; ; attempt++)
        {
            var started = new List<StubReplica> { await StubReplica.StartAtAsync("a", A, 0) };
            int port = new Uri(started[0].Url).Port;
            try
            {
                started.Add(await StubReplica.StartAtAsync("b", B, port));
                started.Add(await StubReplica.StartAtAsync("c", C, port));
                return ([.. started], port);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException && attempt < 5)
            {
                foreach (var s in started) await s.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ReplicasJoinAndLeaveAsTheNameResolvesToMoreOrFewerAddresses()
    {
        var (stubs, port) = await StubsOnOnePort();
        IPAddress[] records = [A, B];
        bool failing = false;
        await using var router = await RouterUnderTest.StartAsync([], o =>
        {
            o.BackendDnsNames.Add(new BackendOptions($"http://replicas.test:{port}"));
            o.ResolveHost = (host, _) => failing || host != "replicas.test"
                ? Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound))
                : Task.FromResult(records);
        });
        try
        {
            async Task<HashSet<string>> Spread(int from)
            {
                var used = new HashSet<string>();
                for (int c = from; c < from + 36; c++)
                {
                    var (status, replica, _) = await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", "Be brief.", [$"question {c}"]));
                    Assert.Equal(200, status);
                    used.Add(replica!);
                }
                return used;
            }

            Assert.Equal([$"http://127.0.0.2:{port}", $"http://127.0.0.3:{port}"], router.Pool.Backends.Select(b => b.Name));
            Assert.Equal(["a", "b"], (await Spread(0)).Order());

            records = [A, B, C]; // scaled up
            await router.CheckAllAsync();
            Assert.Equal(3, router.Pool.Backends.Count);
            Assert.Contains("c", await Spread(100));

            records = [B, C]; // scaled down
            await router.CheckAllAsync();
            int toA = stubs[0].Count;
            Assert.Equal(["b", "c"], (await Spread(200)).Order());
            Assert.Equal(toA, stubs[0].Count);

            failing = true; // a failed lookup keeps the last replicas
            await router.CheckAllAsync();
            Assert.Equal(2, router.Pool.Backends.Count);
            Assert.Equal(200, (await router.PostAsync("/v1/chat/completions", RouterUnderTest.Chat("tiny", "Be brief.", ["still there?"]))).Status);
        }
        finally
        {
            foreach (var s in stubs) await s.DisposeAsync();
        }
    }
}
