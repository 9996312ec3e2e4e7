namespace QwenSharp.Router;

/// <summary>
/// Chooses the replica for a request:
/// <list type="number">
/// <item>the candidates are the usable replicas (not marked unhealthy) that serve the request's <c>model</c>
/// (all usable replicas when none lists it: the replica then answers, with a 404 or through an alias);</item>
/// <item>the preferred one is the replica that got the longest earlier prefix of this request (<see cref="AffinityTable"/>),
/// else the rendezvous-hash winner for the conversation's opening (<see cref="PrefixKey.Anchor"/>);</item>
/// <item>unless it is overloaded (<see cref="OverloadOptions"/>): then the least-loaded candidate that is not.</item>
/// </list>
/// </summary>
public sealed class RoutingPolicy(BackendPool pool, AffinityTable table, OverloadOptions overload, TimeSpan loadMaxAge)
{
    public RouteDecision? Choose(string? model, PrefixKey? key, IReadOnlyCollection<Backend> exclude)
    {
        var backends = pool.Backends;
        var usable = new List<Backend>(backends.Count);
        foreach (var b in backends)
            if (b.IsUsable && !exclude.Contains(b)) usable.Add(b);
        if (usable.Count == 0) return null;
        var candidates = usable.FindAll(b => b.Serves(model));
        if (candidates.Count == 0) candidates = usable;
        // Replicas confirmed healthy go before those not checked yet.
        if (candidates.Exists(b => b.Health == BackendHealth.Healthy)) candidates = candidates.FindAll(b => b.Health == BackendHealth.Healthy);

        var now = DateTimeOffset.UtcNow;
        double minLoad = double.MaxValue;
        foreach (var b in candidates) minLoad = Math.Min(minLoad, LoadOf(b, now));

        if (key is not null)
        {
            var (tabled, _) = table.Lookup(key, candidates.Contains);
            if (tabled is not null && !IsOverloaded(tabled, now, minLoad)) return Decide(key, tabled, RouteReason.PrefixTable);
            var hashed = candidates.MaxBy(b => PrefixHash.Score(key.Anchor, b.Id))!;
            if (tabled is null && !IsOverloaded(hashed, now, minLoad)) return Decide(key, hashed, RouteReason.PrefixHash);
        }

        // Least loaded, not overloaded first; ties broken by the rendezvous order (or the replica order).
        ulong anchor = key?.Anchor ?? 0;
        var best = candidates
            .OrderBy(b => IsOverloaded(b, now, minLoad) ? 1 : 0)
            .ThenBy(b => LoadOf(b, now))
            .ThenByDescending(b => PrefixHash.Score(anchor, b.Id))
            .First();
        return Decide(key, best, key is null ? RouteReason.NoPrefix : RouteReason.LeastLoaded);
    }

    /// <summary>Whether a replica other than those in <paramref name="exclude"/> could still take the request.</summary>
    public bool AnyCandidate(IReadOnlyCollection<Backend> exclude) => pool.Backends.Any(b => b.IsUsable && !exclude.Contains(b));

    RouteDecision Decide(PrefixKey? key, Backend b, RouteReason reason)
    {
        if (key is not null) table.Record(key, b);
        return new RouteDecision(b, reason);
    }

    LoadSnapshot? FreshLoad(Backend b, DateTimeOffset now)
    {
        var l = b.Load;
        return l is not null && now - l.At <= loadMaxAge ? l : null;
    }

    /// <summary>Sequences running plus waiting on the replica (from its metrics), or the router's own requests in
    /// flight to it when that is more (the metrics lag, or are missing).</summary>
    public double LoadOf(Backend b, DateTimeOffset now)
    {
        var l = FreshLoad(b, now);
        double scraped = (l?.Running ?? 0) + (l?.Waiting ?? 0);
        return Math.Max(scraped, b.InFlight);
    }

    public bool IsOverloaded(Backend b, DateTimeOffset now, double minLoad)
    {
        var l = FreshLoad(b, now);
        if (l is not null)
        {
            if (l.Waiting >= overload.MaxWaiting) return true;
            if (overload.MaxRunning is double mr && l.Running >= mr) return true;
            if (l.KvCacheUsage >= overload.MaxKvCacheUsage) return true;
        }
        if (overload.MaxInFlight is int mi && b.InFlight >= mi) return true;
        return LoadOf(b, now) - minLoad > overload.MaxLoadImbalance;
    }
}
