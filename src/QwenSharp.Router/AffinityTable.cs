namespace QwenSharp.Router;

/// <summary>
/// Remembers, for the most recent requests, which replica got each request prefix (<see cref="PrefixKey.Full"/>),
/// least recently used forgotten first. A later request finds the longest of its own boundary hashes here: the
/// replica that most likely still holds that prefix in its KV cache.
/// </summary>
public sealed class AffinityTable(int capacity)
{
    readonly Dictionary<ulong, LinkedListNode<(ulong Hash, Backend Backend)>> _map = [];
    readonly LinkedList<(ulong Hash, Backend Backend)> _lru = new();
    readonly object _lock = new();

    public int Capacity { get; } = Math.Max(1, capacity);

    public int Count { get { lock (_lock) return _map.Count; } }

    /// <summary>The replica remembered for the longest prefix of <paramref name="key"/> (one of its boundaries) accepted by
    /// <paramref name="usable"/>, with the number of boundaries matched; (null, 0) when none is.</summary>
    public (Backend? Backend, int Boundaries) Lookup(PrefixKey key, Func<Backend, bool> usable)
    {
        lock (_lock)
        {
            for (int i = key.Boundaries.Count - 1; i >= key.FirstAffinityBoundary; i--)
            {
                if (!_map.TryGetValue(key.Boundaries[i], out var node)) continue;
                if (!usable(node.Value.Backend)) continue;
                _lru.Remove(node);
                _lru.AddFirst(node);
                return (node.Value.Backend, i + 1);
            }
        }
        return (null, 0);
    }

    /// <summary>Remembers that <paramref name="backend"/> got the prefix of <paramref name="key"/>.</summary>
    public void Record(PrefixKey key, Backend backend)
    {
        if (key.Full is not ulong hash) return;
        lock (_lock)
        {
            if (_map.TryGetValue(hash, out var node))
            {
                node.Value = (hash, backend);
                _lru.Remove(node);
                _lru.AddFirst(node);
                return;
            }
            _map[hash] = _lru.AddFirst((hash, backend));
            while (_map.Count > Capacity)
            {
                var last = _lru.Last!;
                _lru.RemoveLast();
                _map.Remove(last.Value.Hash);
            }
        }
    }

    /// <summary>Forgets every prefix remembered for <paramref name="backend"/> (it restarted or left: its cache is gone).</summary>
    public void Forget(Backend backend)
    {
        lock (_lock)
        {
            for (var n = _lru.First; n != null;)
            {
                var next = n.Next;
                if (n.Value.Backend == backend) { _map.Remove(n.Value.Hash); _lru.Remove(n); }
                n = next;
            }
        }
    }
}
