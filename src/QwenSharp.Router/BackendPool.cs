using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace QwenSharp.Router;

/// <summary>
/// The router's shared state: the replicas (those listed, plus those found through DNS, which may change), the
/// affinity table, the routing policy and the metrics.
/// </summary>
public sealed class BackendPool
{
    readonly Backend[] _fixed;
    readonly Dictionary<BackendOptions, Backend[]> _discovered = [];
    readonly object _lock = new();
    volatile Backend[] _backends;

    public BackendPool(IOptions<RouterOptions> options) : this(options.Value) { }

    public BackendPool(RouterOptions options)
    {
        if (options.Backends.Count == 0 && options.BackendDnsNames.Count == 0) throw new ArgumentException("the router needs at least one backend");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var list = new List<Backend>();
        foreach (var o in options.Backends)
        {
            var b = new Backend(o);
            if (!names.Add(b.Name)) throw new ArgumentException($"backend {b.Name} is listed twice");
            list.Add(b);
        }
        _fixed = [.. list];
        _backends = _fixed;
        foreach (var d in options.BackendDnsNames) _discovered[d] = [];
        Options = options;
        Table = new AffinityTable(options.Prefix.TableCapacity);
        // A reading older than three check intervals is ignored (the replica stopped answering /metrics).
        Policy = new RoutingPolicy(this, Table, options.Overload, options.HealthCheckInterval * 3);
    }

    public RouterOptions Options { get; }
    /// <summary>The replicas now (a snapshot: DNS discovery replaces the list, never changes it in place).</summary>
    public IReadOnlyList<Backend> Backends => _backends;
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

    /// <summary>
    /// Resolves every <see cref="RouterOptions.BackendDnsNames"/> entry and makes its addresses the replicas found
    /// for it: new addresses join (unchecked), vanished ones leave (their requests in flight finish). A name that
    /// fails to resolve keeps its last replicas. Returns the failures' messages.
    /// </summary>
    public async Task<List<string>> RefreshDnsAsync(CancellationToken ct)
    {
        var failures = new List<string>();
        foreach (var template in Options.BackendDnsNames)
        {
            IPAddress[] addresses;
            try { addresses = await Options.ResolveHost(template.Url.IdnHost, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is SocketException or ArgumentException)
            {
                failures.Add($"{template.Url.IdnHost}: {e.Message}");
                continue;
            }
            lock (_lock)
            {
                var old = _discovered[template];
                var found = new List<Backend>();
                foreach (var a in addresses.Distinct().OrderBy(a => a.ToString(), StringComparer.Ordinal))
                {
                    var url = new UriBuilder(template.Url) { Host = a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString() }.Uri;
                    var name = url.ToString().TrimEnd('/');
                    found.Add(old.FirstOrDefault(b => b.Name == name) ?? new Backend(new BackendOptions(url, template.ApiKey)));
                }
                foreach (var gone in old.Except(found)) Table.Forget(gone);
                _discovered[template] = [.. found];
                var all = new List<Backend>(_fixed);
                foreach (var set in _discovered.Values)
                    foreach (var b in set)
                        if (!all.Exists(x => string.Equals(x.Name, b.Name, StringComparison.OrdinalIgnoreCase))) all.Add(b);
                _backends = [.. all];
            }
        }
        return failures;
    }
}
