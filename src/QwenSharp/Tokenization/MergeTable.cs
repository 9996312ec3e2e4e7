using System.Numerics;
using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// The BPE merges as a hash table from a pair of token ids (left, right) to (rank, merged id): open
/// addressing over one array of 16-byte slots (key and value side by side, so a lookup touches one cache
/// line), plus a direct 256×256 table for pairs of ids below 256 (Qwen's byte tokens: every word's first
/// merges), which stays in the L2 cache. A pair listed twice keeps its last rank, as Hugging Face's map does.
/// </summary>
internal sealed class MergeTable
{
    const ulong Empty = ulong.MaxValue;
    const int Small = 256;

    struct Slot
    {
        public ulong Key;   // left << 32 | right
        public ulong Value; // rank << 32 | merged id
    }

    readonly Slot[] _slots;
    readonly int _shift;
    /// <summary>(rank &lt;&lt; 32 | merged) for pairs of ids below 256; ulong.MaxValue where they do not merge.</summary>
    readonly ulong[] _small = new ulong[Small * Small];
    public int Count { get; private set; }

    public MergeTable(int capacity)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity + capacity / 2));
        _slots = new Slot[size];
        for (int i = 0; i < size; i++) _slots[i].Key = Empty;
        Array.Fill(_small, Empty);
        _shift = 64 - BitOperations.Log2((uint)size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Key(int left, int right) => (ulong)(uint)left << 32 | (uint)right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int SlotOf(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    public void Add(int left, int right, int rank, int merged)
    {
        ulong key = Key(left, right);
        ulong value = (ulong)(uint)rank << 32 | (uint)merged;
        int mask = _slots.Length - 1;
        int i = SlotOf(key);
        while (_slots[i].Key != Empty && _slots[i].Key != key) i = (i + 1) & mask;
        if (_slots[i].Key == Empty)
        {
            if (Count + 1 > _slots.Length * 3 / 4) throw new InvalidOperationException("merge table is full");
            _slots[i].Key = key;
            Count++;
        }
        _slots[i].Value = value;
        if ((uint)left < Small && (uint)right < Small) _small[left * Small + right] = value;
    }

    /// <summary>The rank of merging (left, right), or -1 when they do not merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TryGet(int left, int right, out int merged)
    {
        if ((uint)left < Small && (uint)right < Small)
        {
            ulong v = _small[left * Small + right];
            if (v == Empty) { merged = -1; return -1; }
            merged = (int)(uint)v;
            return (int)(v >> 32);
        }
        return TryGetLarge(Key(left, right), out merged);
    }

    int TryGetLarge(ulong key, out int merged)
    {
        var slots = _slots;
        int mask = slots.Length - 1;
        int i = SlotOf(key);
        while (true)
        {
            ref Slot s = ref slots[i];
            if (s.Key == key)
            {
                merged = (int)(uint)s.Value;
                return (int)(s.Value >> 32);
            }
            if (s.Key == Empty) { merged = -1; return -1; }
            i = (i + 1) & mask;
        }
    }

    /// <summary>
    /// True when, for every token, every merge that uses it (as left or right) ranks after every merge that
    /// produces it. A BPE learned from data always is: a token exists only once a merge has made it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    public bool IsLayered(int tokenCount)
    {
        var maxMade = new int[tokenCount];
        var minUsed = new int[tokenCount];
        Array.Fill(maxMade, -1);
        Array.Fill(minUsed, int.MaxValue);
        foreach (var s in _slots)
        {
            if (s.Key == Empty) continue;
            int left = (int)(s.Key >> 32), right = (int)(uint)s.Key;
            int rank = (int)(s.Value >> 32), merged = (int)(uint)s.Value;
            if ((uint)left >= (uint)tokenCount || (uint)right >= (uint)tokenCount || (uint)merged >= (uint)tokenCount) return false;
            maxMade[merged] = Math.Max(maxMade[merged], rank);
            minUsed[left] = Math.Min(minUsed[left], rank);
            minUsed[right] = Math.Min(minUsed[right], rank);
        }
        for (int t = 0; t < tokenCount; t++)
            if (maxMade[t] >= minUsed[t]) return false;
        return true;
    }
}
