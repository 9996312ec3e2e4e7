namespace QwenSharp.Router;

/// <summary>Health of a replica as the router sees it.</summary>
public enum BackendHealth
{
    /// <summary>Not checked yet: used, after the replicas known to be healthy.</summary>
    Unknown,
    Healthy,
    /// <summary>/ready failed or did not answer, or a request to it failed to connect or broke off: not used until /ready answers 200 again.</summary>
    Unhealthy,
}

/// <summary>One replica: its address, health, last load reading, served models and the router's requests in flight to it.</summary>
public sealed class Backend
{
    int _inFlight;
    volatile LoadSnapshot? _load;
    volatile IReadOnlyList<string>? _models;
    volatile BackendHealthState _health = new(BackendHealth.Unknown, DateTimeOffset.MinValue, null);

    internal Backend(BackendOptions options)
    {
        Options = options;
        var s = options.Url.ToString();
        Name = s.EndsWith('/') ? s[..^1] : s;
        Prefix = Name;
        Id = PrefixHash.Mix(PrefixHash.Bytes(System.Text.Encoding.UTF8.GetBytes(Name)));
    }

    public BackendOptions Options { get; }
    /// <summary>The base URL without a trailing slash: the label of this replica in the router's metrics.</summary>
    public string Name { get; }
    /// <summary>What YARP's forwarder puts before the request path.</summary>
    internal string Prefix { get; }
    /// <summary>A hash of <see cref="Name"/>: the replica's identity in rendezvous hashing, the same in every router process.</summary>
    internal ulong Id { get; }

    public BackendHealth Health => _health.Health;
    /// <summary>Why the replica was last marked unhealthy (null when healthy).</summary>
    public string? HealthReason => _health.Reason;
    public DateTimeOffset HealthChangedAt => _health.ChangedAt;
    public bool IsUsable => Health != BackendHealth.Unhealthy;

    public int InFlight => Volatile.Read(ref _inFlight);
    public LoadSnapshot? Load => _load;

    /// <summary>Model ids of the replica's last /v1/models answer (null until read).</summary>
    public IReadOnlyList<string>? Models => _models;
    internal DateTimeOffset ModelsReadAt { get; private set; }

    internal void SetHealth(BackendHealth health, string? reason)
    {
        if (_health.Health != health || _health.Reason != reason) _health = new(health, DateTimeOffset.UtcNow, reason);
    }

    internal void SetLoad(LoadSnapshot? load) => _load = load;

    internal void SetModels(IReadOnlyList<string> models)
    {
        _models = models;
        ModelsReadAt = DateTimeOffset.UtcNow;
    }

    internal void Enter() => Interlocked.Increment(ref _inFlight);
    internal void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>
    /// Whether the replica serves <paramref name="model"/>: it lists that id, or lists <c>BASE:ADAPTER</c> for a
    /// request naming the adapter alone, or lists the base and the adapter of a <c>BASE:ADAPTER</c> request.
    /// A replica whose list is not known yet serves every model.
    /// </summary>
    public bool Serves(string? model)
    {
        var models = _models;
        if (model is null || models is null) return true;
        foreach (var m in models)
        {
            if (string.Equals(m, model, StringComparison.Ordinal)) return true;
            int colon = m.IndexOf(':');
            if (colon >= 0 && m.AsSpan(colon + 1).SequenceEqual(model)) return true;
        }
        int sep = model.IndexOf(':');
        if (sep > 0)
        {
            string b = model[..sep], a = model[(sep + 1)..];
            return models.Contains(b) && models.Contains(a);
        }
        return false;
    }

    public override string ToString() => Name;

    sealed record BackendHealthState(BackendHealth Health, DateTimeOffset ChangedAt, string? Reason);
}
