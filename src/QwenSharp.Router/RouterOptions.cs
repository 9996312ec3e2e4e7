namespace QwenSharp.Router;

/// <summary>
/// Settings of the router (<c>AddQwenSharpRouter</c>): the replicas, how they are checked, when one counts as
/// overloaded, and how requests are authenticated. The defaults suit a handful of <c>qwensharp serve</c> replicas.
/// </summary>
public sealed class RouterOptions
{
    /// <summary>The replicas: base URLs such as <c>http://10.0.0.5:8080</c> (their OpenAI endpoints are under /v1).</summary>
    public IList<BackendOptions> Backends { get; } = [];

    /// <summary>
    /// Replicas found through DNS: each entry's host name is resolved every <see cref="HealthCheckInterval"/>, and
    /// every address it returns is a replica (same scheme, port and path; the entry's key). For a Kubernetes
    /// headless Service (<c>http://qwensharp-replicas:8080</c>), scaling the Deployment adds and removes replicas.
    /// </summary>
    public IList<BackendOptions> BackendDnsNames { get; } = [];

    /// <summary>Resolves a host name for <see cref="BackendDnsNames"/> (default: <see cref="System.Net.Dns.GetHostAddressesAsync(string, CancellationToken)"/>).</summary>
    public Func<string, CancellationToken, Task<System.Net.IPAddress[]>> ResolveHost { get; set; } = System.Net.Dns.GetHostAddressesAsync;

    /// <summary>Keys clients must present to the router (Authorization: Bearer KEY). Empty: no authentication.</summary>
    public IList<string> ApiKeys { get; } = [];

    /// <summary>
    /// Key the router sends to every replica (a backend's own <see cref="BackendOptions.ApiKey"/> wins). When
    /// neither is set the client's Authorization header is passed through, unless the router has keys of its
    /// own, which are never forwarded.
    /// </summary>
    public string? BackendApiKey { get; set; }

    /// <summary>Require a client key for GET /metrics too (default: open, as Prometheus scrapers expect; the metrics name
    /// the replicas' addresses).</summary>
    public bool MetricsRequireKey { get; set; }

    /// <summary>How often each replica's /ready and /metrics are read.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one health or metrics request may take before the check counts as failed.</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a healthy replica's /v1/models list is read again (also read whenever it becomes healthy).</summary>
    public TimeSpan ModelsRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest silence from a replica while forwarding (no headers, no body bytes) before the request fails.
    /// Long: a non-streaming completion sends nothing until it is done.</summary>
    public TimeSpan ActivityTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a connection attempt to a replica may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most replicas one request is tried on before the client gets the error (a request is retried only
    /// while nothing has been sent back to the client: connection refused, reset before the response, a 503).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Largest request body in bytes the router reads (413 above it); the router must read a body to route it.</summary>
    public long MaxBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>When set, every forwarded response carries this header naming the replica that answered (for debugging and
    /// tests; off by default, since it shows clients the replicas' addresses).</summary>
    public string? BackendHeader { get; set; }

    /// <summary>Prefix-affinity settings (see <see cref="PrefixOptions"/>).</summary>
    public PrefixOptions Prefix { get; } = new();

    /// <summary>When a replica is too busy to take the requests its prefixes attract (see <see cref="OverloadOptions"/>).</summary>
    public OverloadOptions Overload { get; } = new();

    /// <summary>Names of the replica metrics the router reads (vLLM's, which <c>qwensharp serve</c> also exposes).</summary>
    public BackendMetricNames MetricNames { get; } = new();
}

/// <summary>One replica.</summary>
public sealed class BackendOptions
{
    public BackendOptions(Uri url, string? apiKey = null)
    {
        if (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"'{url}' is not an absolute http:// or https:// URL");
        Url = url;
        ApiKey = apiKey;
    }

    public BackendOptions(string url, string? apiKey = null)
        : this(Uri.TryCreate(url, UriKind.Absolute, out var u) ? u : throw new ArgumentException($"'{url}' is not an absolute http:// or https:// URL"), apiKey) { }

    /// <summary>Base URL of the replica (no path, or the path its endpoints sit under).</summary>
    public Uri Url { get; }

    /// <summary>Bearer key for this replica (overrides <see cref="RouterOptions.BackendApiKey"/>).</summary>
    public string? ApiKey { get; }
}

/// <summary>How the prompt prefix of a request is summarized for affinity.</summary>
public sealed class PrefixOptions
{
    /// <summary>For a /v1/completions prompt without chat markup: the size in bytes of the blocks it is cut into; a prompt
    /// that grows matches its earlier form at that form's last whole block. 128 bytes is about 32 tokens, two KV blocks
    /// of the engine. (Chats are cut at message ends instead.)</summary>
    public int BlockBytes { get; set; } = 128;

    /// <summary>For a /v1/completions prompt without chat markup: the leading bytes whose hash chooses the replica.</summary>
    public int CompletionAnchorBytes { get; set; } = 1024;

    /// <summary>Most remembered request prefixes (least recently used forgotten first).</summary>
    public int TableCapacity { get; set; } = 65536;
}

/// <summary>
/// A replica is overloaded, and a request it would get for its prefix goes to the least-loaded healthy replica
/// instead, when any of these limits is reached. Load is read from its /metrics every <see cref="RouterOptions.HealthCheckInterval"/>
/// and from the router's own count of requests in flight to it.
/// </summary>
public sealed class OverloadOptions
{
    /// <summary>Requests waiting in the replica's queue (<c>vllm:num_requests_waiting</c>).</summary>
    public double MaxWaiting { get; set; } = 8;

    /// <summary>Sequences running on the replica (<c>vllm:num_requests_running</c>); null: no limit.</summary>
    public double? MaxRunning { get; set; }

    /// <summary>Fraction of the replica's KV cache in use, 0 to 1 (<c>vllm:kv_cache_usage_perc</c>).</summary>
    public double MaxKvCacheUsage { get; set; } = 0.9;

    /// <summary>Requests this router has in flight to the replica; null: no limit.</summary>
    public int? MaxInFlight { get; set; }

    /// <summary>How much busier (running + waiting, or in flight) than the least-loaded candidate a replica may be before
    /// its prefix requests spill over: keeps one hot prefix from piling onto one replica.</summary>
    public double MaxLoadImbalance { get; set; } = 16;
}

/// <summary>The Prometheus metric names read from each replica; the first one present of each list is used.</summary>
public sealed class BackendMetricNames
{
    public IList<string> Waiting { get; } = ["vllm:num_requests_waiting"];
    public IList<string> Running { get; } = ["vllm:num_requests_running"];
    public IList<string> KvCacheUsage { get; } = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"];
    /// <summary>Prompt tokens served from the prefix cache (a counter), shown in the router's /metrics per replica.</summary>
    public IList<string> PrefixCacheHits { get; } = ["vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits"];
    /// <summary>Prompt tokens looked up in the prefix cache (a counter).</summary>
    public IList<string> PrefixCacheQueries { get; } = ["vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries"];
}
