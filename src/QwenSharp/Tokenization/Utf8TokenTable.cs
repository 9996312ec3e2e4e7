using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// Token ids by the UTF-8 bytes of the token, used while loading tokenizer.json: merges are resolved
/// straight from the JSON bytes, with no conversion to .NET strings (151k merges are 453k lookups, most of
/// the load time otherwise). Open addressing over 16-byte slots: a token of up to 8 bytes is stored in its
/// slot (one memory access per lookup); a longer one by a 64-bit hash, with its bytes kept aside.
/// </summary>
internal sealed class Utf8TokenTable
{
    struct Slot
    {
        public ulong Key;  // the token's bytes (up to 8, zero-padded), or the hash of a longer token
        public int Id;
        public int Meta;   // 0: empty; 1..8: inline token of that length; -(1 + index into _long): a longer token
    }

    Slot[] _slots;
    int _mask, _count;
    byte[] _blob = new byte[1 << 16];
    int _blobLength;
    (int Offset, int Length)[] _long = new (int, int)[1024];
    int _longCount;

    public Utf8TokenTable(int capacity)
    {
        _slots = new Slot[(int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity * 2))];
        _mask = _slots.Length - 1;
    }

    public int Count => _count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong KeyOf(ReadOnlySpan<byte> token, out int meta)
    {
        if (token.Length <= 8)
        {
            meta = token.Length;
            if (token.Length == 8) return BinaryPrimitives.ReadUInt64LittleEndian(token);
            ulong k = 0;
            for (int i = token.Length - 1; i >= 0; i--) k = k << 8 | token[i];
            return k;
        }
        meta = -1;
        ulong h = 14695981039346656037UL;
        foreach (byte b in token) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int Start(ulong key, int meta) => (int)(((key ^ (ulong)meta) * 0x9E3779B97F4A7C15UL) >> 40) & _mask;

    /// <summary>Adds a token; false when the same bytes are already there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    public bool Add(ReadOnlySpan<byte> token, int id)
    {
        if (token.IsEmpty) return true; // an empty token can never be looked up by a merge
        if ((_count + 1) * 2 > _slots.Length) Grow();
        ulong key = KeyOf(token, out int meta);
        int i = Start(key, meta);
        while (_slots[i].Meta != 0)
        {
            if (Matches(in _slots[i], key, meta, token)) return false;
            i = (i + 1) & _mask;
        }
        if (meta < 0)
        {
            if (_blobLength + token.Length > _blob.Length) Array.Resize(ref _blob, Math.Max(_blob.Length * 2, _blobLength + token.Length));
            token.CopyTo(_blob.AsSpan(_blobLength));
            if (_longCount == _long.Length) Array.Resize(ref _long, _long.Length * 2);
            _long[_longCount] = (_blobLength, token.Length);
            _blobLength += token.Length;
            _slots[i].Meta = -1 - _longCount++;
        }
        else _slots[i].Meta = meta;
        _slots[i].Key = key;
        _slots[i].Id = id;
        _count++;
        return true;
    }

    /// <summary>The id of a token, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    public int Find(ReadOnlySpan<byte> token)
    {
        ulong key = KeyOf(token, out int meta);
        int i = Start(key, meta);
        while (true)
        {
            ref Slot s = ref _slots[i];
            if (s.Meta == 0) return -1;
            if (Matches(in s, key, meta, token)) return s.Id;
            i = (i + 1) & _mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    bool Matches(in Slot s, ulong key, int meta, ReadOnlySpan<byte> token)
    {
        if (s.Key != key) return false;
        if (meta > 0) return s.Meta == meta;
        if (s.Meta >= 0) return false;
        var (offset, length) = _long[-1 - s.Meta];
        return token.SequenceEqual(_blob.AsSpan(offset, length));
    }

    void Grow()
    {
        var old = _slots;
        _slots = new Slot[old.Length * 2];
        _mask = _slots.Length - 1;
        foreach (var s in old)
        {
            if (s.Meta == 0) continue;
            int i = Start(s.Key, s.Meta > 0 ? s.Meta : -1);
            while (_slots[i].Meta != 0) i = (i + 1) & _mask;
            _slots[i] = s;
        }
    }
}
