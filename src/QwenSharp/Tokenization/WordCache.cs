using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// The BPE result of recent pre-tokens, in a direct-mapped table (each pre-token has one slot, chosen by
/// its hash; a new one replaces what was there). Lookups take no lock and never allocate; an entry is an
/// immutable object published by one reference write, so concurrent readers see either the old or the new
/// entry, both correct. Memory is bounded by the slot count, and hostile text can at worst cause misses.
/// </summary>
internal sealed class WordCache
{
    sealed class Entry(string key, int[] ids)
    {
        public readonly string Key = key;
        public readonly int[] Ids = ids;
    }

    readonly Entry?[] _slots;
    readonly int _mask;

    public WordCache(int slotsPowerOfTwo = 1 << 16)
    {
        _slots = new Entry?[slotsPowerOfTwo];
        _mask = slotsPowerOfTwo - 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Hash(ReadOnlySpan<char> s)
    {
        // FNV-1a over the chars (pre-tokens are short); a bad distribution only costs misses.
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)(h ^ (h >> 16));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int[]? Get(ReadOnlySpan<char> word)
    {
        var e = Volatile.Read(ref _slots[Hash(word) & _mask]);
        return e != null && word.SequenceEqual(e.Key) ? e.Ids : null;
    }

    public void Set(ReadOnlySpan<char> word, int[] ids) =>
        Volatile.Write(ref _slots[Hash(word) & _mask], new Entry(word.ToString(), ids));

    public void Clear() => Array.Clear(_slots);
}
