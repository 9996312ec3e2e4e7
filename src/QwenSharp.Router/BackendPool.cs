using Microsoft.Extensions.Options;

namespace QwenSharp.Router;

/// <summary>The router's shared state: the replicas, the affinity table, the routing policy and the metrics.</summary>
public sealed class BackendPool
{
    public BackendPool(IOptions<RouterOptions> options) : this(options.Value) { }

    public BackendPool(RouterOptions options)
    {
        if (options.Backends.Count == 0) throw new ArgumentException("the router needs at least one backend");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var list = new List<Backend>();
        for (int i = 0; i < options.Backends.Count; i++)
        {
            var b = new Backend(i, options.Backends[i]);
            if (!names.Add(b.Name)) throw new ArgumentException($"backend {b.Name} is listed twice");
            list.Add(b);
        }
        Options = options;
        Backends = list;
        Table = new AffinityTable(options.Prefix.TableCapacity);
        // A reading older than three check intervals is ignored (the replica stopped answering /metrics).
        Policy = new RoutingPolicy(Backends, Table, options.Overload, options.HealthCheckInterval * 3);
    }

    public RouterOptions Options { get; }
    public IReadOnlyList<Backend> Backends { get; }
    public AffinityTable Table { get; }
    public RoutingPolicy Policy { get; }
    public RouterMetrics Metrics { get; } = new();

    /// <summary>Marks a replica unhealthy (a failed check, or a request that could not reach it or broke off) and
    /// forgets the prefixes sent there: if it comes back, its cache is likely gone.</summary>
    public void MarkUnhealthy(Backend b, string reason)
    {
        if (b.Health != BackendHealth.Unhealthy) Table.Forget(b);
        b.SetHealth(BackendHealth.Unhealthy, reason);
    }

    public void MarkHealthy(Backend b) => b.SetHealth(BackendHealth.Healthy, null);

    /// <summary>Whether some replica passed its last check (the router's /ready).</summary>
    public bool AnyHealthy => Backends.Any(b => b.Health == BackendHealth.Healthy);
}
