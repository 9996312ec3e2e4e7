using System.Numerics;
using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// The BPE merges as a hash table from a pair of token ids (left, right) to (rank, merged id), with open
/// addressing over flat arrays: one lookup is a multiply, a mask and usually one probe.
/// A pair listed twice keeps its last rank, as Hugging Face's map does.
/// </summary>
internal sealed class MergeTable
{
    const ulong Empty = ulong.MaxValue;
    readonly ulong[] _keys;
    readonly ulong[] _values; // rank << 32 | merged id
    readonly int _shift;
    public int Count { get; private set; }

    public MergeTable(int capacity)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity * 2));
        _keys = new ulong[size];
        Array.Fill(_keys, Empty);
        _values = new ulong[size];
        _shift = 64 - BitOperations.Log2((uint)size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Key(int left, int right) => (ulong)(uint)left << 32 | (uint)right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int Slot(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    public void Add(int left, int right, int rank, int merged)
    {
        ulong key = Key(left, right);
        int mask = _keys.Length - 1;
        int i = Slot(key);
        while (_keys[i] != Empty && _keys[i] != key) i = (i + 1) & mask;
        if (_keys[i] == Empty)
        {
            if (Count + 1 > _keys.Length / 2) throw new InvalidOperationException("merge table is full");
            _keys[i] = key;
            Count++;
        }
        _values[i] = (ulong)(uint)rank << 32 | (uint)merged;
    }

    /// <summary>
    /// True when, for every token, every merge that uses it (as left or right) ranks after every merge that
    /// produces it. A BPE learned from data always is: a token exists only once a merge has made it.
    /// </summary>
    public bool IsLayered(int tokenCount)
    {
        var maxMade = new int[tokenCount];
        var minUsed = new int[tokenCount];
        Array.Fill(maxMade, -1);
        Array.Fill(minUsed, int.MaxValue);
        for (int i = 0; i < _keys.Length; i++)
        {
            if (_keys[i] == Empty) continue;
            int left = (int)(_keys[i] >> 32), right = (int)(uint)_keys[i];
            int rank = (int)(_values[i] >> 32), merged = (int)(uint)_values[i];
            if ((uint)left >= (uint)tokenCount || (uint)right >= (uint)tokenCount || (uint)merged >= (uint)tokenCount) return false;
            maxMade[merged] = Math.Max(maxMade[merged], rank);
            minUsed[left] = Math.Min(minUsed[left], rank);
            minUsed[right] = Math.Min(minUsed[right], rank);
        }
        for (int t = 0; t < tokenCount; t++)
            if (maxMade[t] >= minUsed[t]) return false;
        return true;
    }

    /// <summary>The rank of merging (left, right), or -1 when they do not merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TryGet(int left, int right, out int merged)
    {
        ulong key = Key(left, right);
        int mask = _keys.Length - 1;
        int i = Slot(key);
        while (true)
        {
            ulong k = _keys[i];
            if (k == key)
            {
                ulong v = _values[i];
                merged = (int)(uint)v;
                return (int)(v >> 32);
            }
            if (k == Empty) { merged = -1; return -1; }
            i = (i + 1) & mask;
        }
    }
}
