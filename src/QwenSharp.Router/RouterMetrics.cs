using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace QwenSharp.Router;

/// <summary>
/// The router's own counters, written at its GET /metrics in the Prometheus text format:
/// requests by replica and status, routing decisions (affinity hits), retries, streams cut by a failed replica,
/// and each replica's health, in-flight requests and last load reading.
/// </summary>
public sealed class RouterMetrics
{
    readonly ConcurrentDictionary<(string Backend, int Status), StrongBox<long>> _requests = new();
    readonly ConcurrentDictionary<RouteReason, StrongBox<long>> _routing = new();
    readonly ConcurrentDictionary<string, StrongBox<long>> _retries = new();
    readonly ConcurrentDictionary<string, StrongBox<long>> _streamErrors = new();
    readonly ConcurrentDictionary<string, StrongBox<long>> _healthCheckFailures = new();
    long _affinityHits;

    /// <summary>Label used for requests the router answered itself (no replica available, bad key, body too large).</summary>
    public const string NoBackend = "none";

    public void Request(string backend, int status) => Interlocked.Increment(ref _requests.GetOrAdd((backend, status), _ => new()).Value);

    public void Routed(RouteReason reason)
    {
        Interlocked.Increment(ref _routing.GetOrAdd(reason, _ => new()).Value);
        if (reason == RouteReason.PrefixTable) Interlocked.Increment(ref _affinityHits);
    }

    public void Retry(string backend) => Interlocked.Increment(ref _retries.GetOrAdd(backend, _ => new()).Value);
    public void StreamError(string backend) => Interlocked.Increment(ref _streamErrors.GetOrAdd(backend, _ => new()).Value);
    public void HealthCheckFailed(string backend) => Interlocked.Increment(ref _healthCheckFailures.GetOrAdd(backend, _ => new()).Value);

    /// <summary>Requests answered with <paramref name="status"/> by <paramref name="backend"/> so far.</summary>
    public long Requests(string backend, int status) => _requests.TryGetValue((backend, status), out var b) ? Interlocked.Read(ref b.Value) : 0;
    public long Routing(RouteReason reason) => _routing.TryGetValue(reason, out var b) ? Interlocked.Read(ref b.Value) : 0;
    public long AffinityHits => Interlocked.Read(ref _affinityHits);
    public long StreamErrors(string backend) => _streamErrors.TryGetValue(backend, out var b) ? Interlocked.Read(ref b.Value) : 0;
    public long Retries(string backend) => _retries.TryGetValue(backend, out var b) ? Interlocked.Read(ref b.Value) : 0;

    public string ToPrometheusText(IReadOnlyList<Backend> backends)
    {
        var sb = new StringBuilder();
        Header(sb, "qwensharp_router_requests_total", "counter", "Requests answered, by replica (none: answered by the router) and HTTP status.");
        foreach (var ((b, s), v) in _requests.OrderBy(k => k.Key.Backend, StringComparer.Ordinal).ThenBy(k => k.Key.Status))
            Sample(sb, "qwensharp_router_requests_total", $"backend=\"{Escape(b)}\",status=\"{s}\"", v.Value);
        Header(sb, "qwensharp_router_routing_total", "counter", "Routing decisions: prefix_table (followed an earlier request's prefix), prefix_hash (rendezvous on the conversation opening), least_loaded (the prefix's replica was overloaded or gone), no_prefix.");
        foreach (var r in Enum.GetValues<RouteReason>())
            Sample(sb, "qwensharp_router_routing_total", $"decision=\"{RouteDecision.Label(r)}\"", Routing(r));
        Header(sb, "qwensharp_router_affinity_hits_total", "counter", "Requests sent to the replica that got an earlier prefix of them.");
        Sample(sb, "qwensharp_router_affinity_hits_total", null, AffinityHits);
        PerBackend(sb, "qwensharp_router_retries_total", "counter", "Attempts that failed before any response reached the client and were retried on another replica.", _retries, backends);
        PerBackend(sb, "qwensharp_router_stream_errors_total", "counter", "Streams ended with an error event because the replica failed mid-stream.", _streamErrors, backends);
        PerBackend(sb, "qwensharp_router_health_check_failures_total", "counter", "Failed /ready checks.", _healthCheckFailures, backends);

        Header(sb, "qwensharp_router_backend_up", "gauge", "1 when the replica is usable (healthy, or not checked yet), 0 when marked unhealthy.");
        foreach (var b in backends) Sample(sb, "qwensharp_router_backend_up", $"backend=\"{Escape(b.Name)}\"", b.IsUsable ? 1 : 0);
        Header(sb, "qwensharp_router_backend_in_flight", "gauge", "Requests this router has in flight to the replica.");
        foreach (var b in backends) Sample(sb, "qwensharp_router_backend_in_flight", $"backend=\"{Escape(b.Name)}\"", b.InFlight);
        LoadGauge(sb, backends, "qwensharp_router_backend_waiting", "Requests waiting on the replica, at its last metrics reading.", l => l.Waiting);
        LoadGauge(sb, backends, "qwensharp_router_backend_running", "Sequences running on the replica, at its last metrics reading.", l => l.Running);
        LoadGauge(sb, backends, "qwensharp_router_backend_kv_cache_usage", "Fraction of the replica's KV cache in use, at its last metrics reading.", l => l.KvCacheUsage);
        LoadGauge(sb, backends, "qwensharp_router_backend_prefix_cache_hits", "The replica's prefix-cache hit counter, at its last metrics reading.", l => l.PrefixCacheHits);
        LoadGauge(sb, backends, "qwensharp_router_backend_prefix_cache_queries", "The replica's prefix-cache query counter, at its last metrics reading.", l => l.PrefixCacheQueries);
        return sb.ToString();
    }

    static void PerBackend(StringBuilder sb, string name, string type, string help, ConcurrentDictionary<string, StrongBox<long>> values, IReadOnlyList<Backend> backends)
    {
        Header(sb, name, type, help);
        foreach (var b in backends)
            Sample(sb, name, $"backend=\"{Escape(b.Name)}\"", values.TryGetValue(b.Name, out var v) ? Interlocked.Read(ref v.Value) : 0);
    }

    static void LoadGauge(StringBuilder sb, IReadOnlyList<Backend> backends, string name, string help, Func<LoadSnapshot, double?> value)
    {
        Header(sb, name, "gauge", help);
        foreach (var b in backends)
            if (b.Load is { } l && value(l) is double v) Sample(sb, name, $"backend=\"{Escape(b.Name)}\"", v);
    }

    static void Header(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    static void Sample(StringBuilder sb, string name, string? labels, double value)
    {
        sb.Append(name);
        if (labels is not null) sb.Append('{').Append(labels).Append('}');
        sb.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }

    static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
