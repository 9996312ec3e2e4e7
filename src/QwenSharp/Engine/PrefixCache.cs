using QwenSharp.Models;

namespace QwenSharp.Engine;

/// <summary>
/// Remembers full KV blocks of earlier sequences by their content: the hash of all tokens from position 0
/// to the block's end (plus the LoRA adapter, since it changes K and V). A new sequence whose prompt
/// starts with the same tokens adopts those blocks instead of recomputing them. The cache holds one
/// reference per block; blocks no sequence uses are evicted least-recently-used first when the KV
/// cache runs out of free blocks. Hits are verified token by token, so a hash collision cannot leak.
/// </summary>
public sealed class PrefixCache
{
    sealed class Entry
    {
        public required ulong Hash;
        public required int Block;
        public required int[] Tokens;   // this block's tokens
        public required ulong Parent;   // hash of the prefix before this block
        public LinkedListNode<Entry>? Node;
    }

    readonly KvCache _cache;
    readonly Dictionary<ulong, Entry> _byHash = [];
    readonly Dictionary<int, Entry> _byBlock = [];
    readonly LinkedList<Entry> _lru = new();
    readonly object _lock = new();

    public long HitTokens { get; private set; }
    public long QueriedTokens { get; private set; }
    public int CachedBlocks { get { lock (_lock) return _byHash.Count; } }

    /// <summary>Cached blocks that no sequence uses: free for reuse on demand (vLLM counts them as free KV).</summary>
    public int ReclaimableBlocks
    {
        get
        {
            int[] blocks;
            lock (_lock) blocks = [.. _byBlock.Keys];
            // Outside our lock: the KV cache takes its own lock and may call back into EvictOne under it.
            int n = 0;
            foreach (var b in blocks) if (_cache.RefCount(b) == 1) n++;
            return n;
        }
    }

    public PrefixCache(KvCache cache)
    {
        _cache = cache;
        cache.Evictor = EvictOne;
    }

    static ulong Mix(ulong h, ulong v)
    {
        h ^= v + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
        h ^= h >> 31; h *= 0x7FB5D329728EA185UL; h ^= h >> 27; h *= 0x81DADEF4BC2DD44DUL; h ^= h >> 33;
        return h;
    }

    static ulong BlockHash(ulong parent, ReadOnlySpan<int> tokens)
    {
        ulong h = Mix(parent, (ulong)tokens.Length);
        foreach (var t in tokens) h = Mix(h, (uint)t);
        return h;
    }

    static ulong Root(int adapter) => Mix(0x51A7E5EEDUL, (ulong)(adapter + 1));

    /// <summary>Gives an empty sequence the cached blocks of the longest cached prefix of <paramref name="tokens"/>,
    /// leaving at least one token uncached (its logits are needed). Returns the number of tokens adopted.</summary>
    public int Adopt(KvSequence seq, ReadOnlySpan<int> tokens, int adapter)
    {
        int bs = _cache.BlockSize;
        var blocks = new List<int>();
        lock (_lock)
        {
            QueriedTokens += tokens.Length;
            ulong h = Root(adapter);
            for (int b = 0; (b + 1) * bs < tokens.Length; b++)
            {
                var chunk = tokens.Slice(b * bs, bs);
                ulong next = BlockHash(h, chunk);
                if (!_byHash.TryGetValue(next, out var e) || e.Parent != h || !chunk.SequenceEqual(e.Tokens)) break;
                blocks.Add(e.Block);
                _lru.Remove(e.Node!);
                _lru.AddLast(e.Node!);
                h = next;
            }
            if (blocks.Count == 0) return 0;
            seq.AdoptPrefix(blocks, blocks.Count * bs);
            HitTokens += blocks.Count * bs;
            return blocks.Count * bs;
        }
    }

    /// <summary>Registers the full blocks of a sequence holding <paramref name="tokens"/> (from position 0).</summary>
    public void Register(KvSequence seq, ReadOnlySpan<int> tokens, int adapter)
    {
        int bs = _cache.BlockSize;
        int full = Math.Min(seq.Length, tokens.Length) / bs;
        lock (_lock)
        {
            ulong h = Root(adapter);
            for (int b = 0; b < full; b++)
            {
                var chunk = tokens.Slice(b * bs, bs);
                ulong next = BlockHash(h, chunk);
                int block = seq.Blocks[b];
                if (_byHash.TryGetValue(next, out var existing))
                {
                    _lru.Remove(existing.Node!);
                    _lru.AddLast(existing.Node!);
                }
                else if (!_byBlock.ContainsKey(block))
                {
                    var e = new Entry { Hash = next, Block = block, Tokens = chunk.ToArray(), Parent = h };
                    e.Node = _lru.AddLast(e);
                    _byHash[next] = e;
                    _byBlock[block] = e;
                    _cache.AddRef(block);
                }
                h = next;
            }
        }
    }

    /// <summary>Frees one cached block that no sequence uses (least recently used first).</summary>
    bool EvictOne()
    {
        lock (_lock)
        {
            for (var node = _lru.First; node != null; node = node.Next)
            {
                var e = node.Value;
                if (_cache.RefCount(e.Block) != 1) continue;
                _lru.Remove(node);
                _byHash.Remove(e.Hash);
                _byBlock.Remove(e.Block);
                _cache.Release(e.Block);
                return true;
            }
            return false;
        }
    }

    /// <summary>Drops every cached block (frees those no sequence uses).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (var e in _byHash.Values) _cache.Release(e.Block);
            _byHash.Clear();
            _byBlock.Clear();
            _lru.Clear();
        }
    }
}
