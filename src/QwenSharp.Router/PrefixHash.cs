namespace QwenSharp.Router;

/// <summary>
/// A 64-bit FNV-1a hash, streaming (its state after n bytes is the hash of those n bytes, so the hashes of every
/// block boundary of a text come from one pass), and a SplitMix64 finalizer for rendezvous scores. The same
/// bytes give the same hash in every process, so several routers agree.
/// </summary>
public static class PrefixHash
{
    public const ulong Seed = 14695981039346656037UL;
    const ulong Prime = 1099511628211UL;

    /// <summary>Continues the hash <paramref name="state"/> over <paramref name="bytes"/>.</summary>
    public static ulong Bytes(ReadOnlySpan<byte> bytes, ulong state = Seed)
    {
        foreach (var b in bytes) state = (state ^ b) * Prime;
        return state;
    }

    /// <summary>Spreads the bits of <paramref name="x"/> (SplitMix64's finalizer).</summary>
    public static ulong Mix(ulong x)
    {
        x ^= x >> 30; x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27; x *= 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return x;
    }

    /// <summary>The rendezvous (highest random weight) score of a replica for a key: the replica with the highest score
    /// gets the key, and when a replica leaves, only its keys move.</summary>
    public static ulong Score(ulong key, ulong backendId) => Mix(key ^ Mix(backendId + 0x9E3779B97F4A7C15UL));
}
