using System.Runtime.InteropServices;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>Element type of the KV cache.</summary>
public enum KvCacheType
{
    F32,
    F16,
    /// <summary>ggml's Q8_0 blocks (32 int8 values and an fp16 scale): about half the memory of F16.</summary>
    Q8_0,
}

/// <summary>
/// A paged KV cache shared by all sequences of one model: fixed-size blocks of <see cref="BlockSize"/>
/// token slots, handed to sequences on demand and reference-counted so that several sequences can
/// share the blocks of a common prompt prefix (the prefix cache). Per layer, K and V are each
/// stored as [kv_head][block][slot][head_dim]: one head's keys are contiguous within a block, and a sequence's
/// consecutive blocks (allocated in ascending order from a fresh or fully released cache) follow each other, so
/// attention over one head streams through memory instead of jumping a whole block of all heads per block.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    readonly byte* _storage;
    readonly long _layerStride;   // bytes per layer (K and V together)
    readonly long _blockStride;   // bytes per block of one kv head
    readonly long _headStride;    // bytes per kv head of K (or V) in one layer: all its blocks
    readonly int[] _refCount;
    readonly Stack<int> _free;
    readonly object _lock = new();

    public int NumLayers { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public int BlockSize { get; }
    public int NumBlocks { get; }
    public KvCacheType Type { get; }
    /// <summary>Bytes per element for F32/F16 (Q8_0: 1; use <see cref="RowBytes"/> for sizes).</summary>
    public int ElementSize => Type switch { KvCacheType.F32 => 4, KvCacheType.F16 => 2, _ => 1 };
    /// <summary>Bytes of one head's key (or value) for one token.</summary>
    public int RowBytes { get; }
    /// <summary>The storage type of a key/value row, as a GGUF type (F32, F16 or Q8_0).</summary>
    public GgmlType ElementType => Type switch { KvCacheType.F32 => GgmlType.F32, KvCacheType.F16 => GgmlType.F16, _ => GgmlType.Q8_0 };

    /// <summary>Token slots in all blocks.</summary>
    public long Capacity => (long)NumBlocks * BlockSize;
    public long ByteSize => _layerStride * NumLayers;

    public KvCache(ModelConfig config, long capacityTokens, KvCacheType type = KvCacheType.F16, int blockSize = 16)
    {
        if (capacityTokens <= 0) throw new ArgumentOutOfRangeException(nameof(capacityTokens), "KV cache capacity must be positive");
        NumLayers = config.NumHiddenLayers;
        NumKvHeads = config.NumKeyValueHeads;
        HeadDim = config.HeadDim;
        BlockSize = blockSize;
        Type = type;
        if (type == KvCacheType.Q8_0 && HeadDim % 32 != 0)
            throw new ArgumentException($"a Q8_0 KV cache needs head_dim to be a multiple of 32 (it is {HeadDim})", nameof(type));
        RowBytes = AttentionKernels.RowBytes(ElementType, HeadDim);
        NumBlocks = checked((int)((capacityTokens + blockSize - 1) / blockSize));
        _blockStride = (long)blockSize * RowBytes;
        _headStride = _blockStride * NumBlocks;
        _layerStride = 2 * _headStride * NumKvHeads;
        // Not cleared: pages become resident only as blocks are first written. Never huge pages: a sequence's first
        // block touches every head of every layer, and with 2 MiB pages that would make most of the cache resident.
        _storage = (byte*)NativeMemory.AlignedAlloc((nuint)(_layerStride * NumLayers), 4096);
        NativeMemoryHelper.AdviseNoHugePages(_storage, _layerStride * NumLayers);
        _refCount = new int[NumBlocks];
        _free = new Stack<int>(NumBlocks);
        for (int b = NumBlocks - 1; b >= 0; b--) _free.Push(b);
    }

    public int FreeBlocks { get { lock (_lock) return _free.Count; } }
    public int UsedBlocks => NumBlocks - FreeBlocks;

    public KvSequence CreateSequence() => new(this);

    /// <summary>Start of the K (v = false) or V (v = true) data of one kv head within a block of a layer.</summary>
    public byte* HeadPointer(int layer, int block, int kvHead, bool v) =>
        _storage + layer * _layerStride + (v ? _headStride * NumKvHeads : 0) + kvHead * _headStride + block * _blockStride;

    /// <summary>Called when no block is free: frees one (e.g. an unused prefix-cache block) and returns true, or false.</summary>
    internal Func<bool>? Evictor { get; set; }

    internal bool TryAllocate(out int block)
    {
        lock (_lock)
        {
            if (_free.Count == 0 && (Evictor is null || !Evictor() || _free.Count == 0)) { block = -1; return false; }
            block = _free.Pop();
            _refCount[block] = 1;
            return true;
        }
    }

    internal void AddRef(int block)
    {
        lock (_lock) _refCount[block]++;
    }

    internal void Release(int block)
    {
        lock (_lock)
        {
            if (--_refCount[block] == 0)
            {
                _free.Push(block);
                BlockFreed?.Invoke(block);
            }
        }
    }

    internal int RefCount(int block) { lock (_lock) return _refCount[block]; }

    /// <summary>Raised (under the cache lock) when a block returns to the free list.</summary>
    internal event Action<int>? BlockFreed;

    /// <summary>Copies the first <paramref name="slots"/> slots of every layer from one block to another.</summary>
    internal void CopyBlock(int from, int to, int slots)
    {
        long bytes = (long)slots * RowBytes;
        for (int l = 0; l < NumLayers; l++)
            for (int h = 0; h < NumKvHeads; h++)
                for (int v = 0; v < 2; v++)
                    Buffer.MemoryCopy(HeadPointer(l, from, h, v == 1), HeadPointer(l, to, h, v == 1), bytes, bytes);
    }

    public void Dispose() => NativeMemory.AlignedFree(_storage);
}

/// <summary>Thrown when the KV cache has no free block for a sequence that needs one.</summary>
public sealed class KvCacheFullException(string message) : Exception(message);

/// <summary>
/// One sequence's view of the KV cache: its block table and the number of tokens stored. Dispose it to
/// free its blocks (blocks shared with other sequences are freed when the last user lets go).
/// </summary>
public sealed class KvSequence : IDisposable
{
    readonly List<int> _blocks = [];
    public KvCache Cache { get; }

    /// <summary>Tokens whose K/V are stored (the next token goes to this position).</summary>
    public int Length { get; internal set; }

    /// <summary>LoRA adapter slot used by this sequence (-1: none).</summary>
    public int AdapterSlot { get; set; } = -1;

    internal KvSequence(KvCache cache) => Cache = cache;

    public IReadOnlyList<int> Blocks => _blocks;

    /// <summary>Makes room for positions [0, length): allocates blocks, and un-shares a partly filled
    /// shared last block before it is written (copy on write).</summary>
    public void Reserve(int length)
    {
        int bs = Cache.BlockSize;
        // A block that will receive new tokens must be exclusively ours.
        if (Length % bs != 0 && length > Length)
        {
            int last = _blocks[Length / bs];
            if (Cache.RefCount(last) > 1)
            {
                if (!Cache.TryAllocate(out int copy)) throw Full(length);
                Cache.CopyBlock(last, copy, Length % bs);
                Cache.Release(last);
                _blocks[Length / bs] = copy;
            }
        }
        while (_blocks.Count * bs < length)
        {
            if (!Cache.TryAllocate(out int b)) throw Full(length);
            _blocks.Add(b);
        }
    }

    KvCacheFullException Full(int length) =>
        new($"KV cache is full: {length} tokens need {(length + Cache.BlockSize - 1) / Cache.BlockSize} blocks of {Cache.BlockSize} " +
            $"and only {Cache.FreeBlocks} of {Cache.NumBlocks} are free");

    /// <summary>Shares the given full blocks (from the prefix cache) as this empty sequence's first tokens.</summary>
    internal void AdoptPrefix(IReadOnlyList<int> blocks, int tokens)
    {
        if (Length != 0 || _blocks.Count != 0) throw new InvalidOperationException("prefix can only be adopted by an empty sequence");
        foreach (var b in blocks)
        {
            Cache.AddRef(b);
            _blocks.Add(b);
        }
        Length = tokens;
    }

    /// <summary>Forgets tokens from position <paramref name="length"/> on (e.g. to regenerate), freeing whole blocks.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        int keep = (length + Cache.BlockSize - 1) / Cache.BlockSize;
        for (int i = _blocks.Count - 1; i >= keep; i--)
        {
            Cache.Release(_blocks[i]);
            _blocks.RemoveAt(i);
        }
        Length = length;
    }

    public void Dispose()
    {
        // Last block first, so the free list hands them out again in ascending order.
        for (int i = _blocks.Count - 1; i >= 0; i--) Cache.Release(_blocks[i]);
        _blocks.Clear();
        Length = 0;
    }
}
