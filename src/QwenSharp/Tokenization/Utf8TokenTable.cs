using System.Numerics;
using System.Runtime.CompilerServices;

namespace QwenSharp.Tokenization;

/// <summary>
/// Token ids by the UTF-8 bytes of the token, used while loading tokenizer.json: merges are resolved
/// straight from the JSON bytes, with no conversion to .NET strings (the merges are 151k lookups of three
/// strings each, most of the load time otherwise).
/// </summary>
internal sealed class Utf8TokenTable
{
    byte[] _blob;
    int _blobLength;
    int[] _offset, _length, _id;
    int[] _slots; // entry index + 1; 0 = empty
    int _mask;
    int _count;

    public Utf8TokenTable(int capacity, int averageBytes = 8)
    {
        capacity = Math.Max(16, capacity);
        _blob = new byte[capacity * averageBytes];
        _offset = new int[capacity];
        _length = new int[capacity];
        _id = new int[capacity];
        _slots = NewSlots(capacity, out _mask);
    }

    static int[] NewSlots(int capacity, out int mask)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)capacity * 2);
        mask = size - 1;
        return new int[size];
    }

    void Grow()
    {
        int capacity = _id.Length * 2;
        Array.Resize(ref _offset, capacity);
        Array.Resize(ref _length, capacity);
        Array.Resize(ref _id, capacity);
        _slots = NewSlots(capacity, out _mask);
        for (int e = 0; e < _count; e++)
        {
            int slot = (int)(Hash(_blob.AsSpan(_offset[e], _length[e])) & (uint)_mask);
            while (_slots[slot] != 0) slot = (slot + 1) & _mask;
            _slots[slot] = e + 1;
        }
    }

    public int Count => _count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Hash(ReadOnlySpan<byte> s)
    {
        uint h = 2166136261;
        foreach (byte b in s) h = (h ^ b) * 16777619;
        return h ^ (h >> 15);
    }

    /// <summary>Adds a token; false when the same bytes are already there.</summary>
    public bool Add(ReadOnlySpan<byte> token, int id)
    {
        if (_count == _id.Length) Grow();
        int slot = (int)(Hash(token) & (uint)_mask);
        while (_slots[slot] != 0)
        {
            int e = _slots[slot] - 1;
            if (token.SequenceEqual(_blob.AsSpan(_offset[e], _length[e]))) return false;
            slot = (slot + 1) & _mask;
        }
        if (_blobLength + token.Length > _blob.Length) Array.Resize(ref _blob, Math.Max(_blob.Length * 2, _blobLength + token.Length));
        token.CopyTo(_blob.AsSpan(_blobLength));
        _offset[_count] = _blobLength;
        _length[_count] = token.Length;
        _id[_count] = id;
        _blobLength += token.Length;
        _slots[slot] = ++_count;
        return true;
    }

    /// <summary>The id of a token, or -1.</summary>
    public int Find(ReadOnlySpan<byte> token)
    {
        int slot = (int)(Hash(token) & (uint)_mask);
        while (true)
        {
            int s = _slots[slot];
            if (s == 0) return -1;
            int e = s - 1;
            if (_length[e] == token.Length && token.SequenceEqual(_blob.AsSpan(_offset[e], token.Length))) return _id[e];
            slot = (slot + 1) & _mask;
        }
    }
}
