using System.Runtime.InteropServices;

namespace QwenSharp.Tensors;

/// <summary>
/// Native memory for repacked weights: 2 MiB-aligned and, on Linux, advised for transparent huge pages
/// (fewer TLB misses when streaming weights). Also drops pages of a memory-mapped range from the
/// process once its contents have been repacked, so a model is not resident twice.
/// </summary>
public static unsafe partial class NativeMemoryHelper
{
    const int MadvDontNeed = 4, MadvHugePage = 14, MadvNoHugePage = 15;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint addr, nuint length, int advice);

    const long HugePage = 1 << 21;

    /// <summary>
    /// Native memory for weights. Blocks of 2 MiB or more get their own 2 MiB-aligned allocation advised for huge
    /// pages; smaller ones (most of a small model's matrices: Qwen3-0.6B's q/k/v/o/gate/up are 0.6–1.8 MB in Q4_K)
    /// are carved one after another out of shared huge-page chunks (<see cref="WeightChunk"/>), so they stream
    /// without a TLB miss every 4 KiB too. Free with <see cref="FreeWeights"/>.
    /// </summary>
    public static void* AllocWeights(long bytes)
    {
        bytes = Math.Max(bytes, 64);
        void* p = bytes < HugePage && OperatingSystem.IsLinux() ? WeightChunk.Alloc(bytes) : AllocAligned(bytes);
        MemoryUse.AddWeights(p, bytes);
        return p;
    }

    static void* AllocAligned(long bytes)
    {
        nuint align = bytes >= HugePage ? (nuint)HugePage : 64;
        void* p = NativeMemory.AlignedAlloc((nuint)((bytes + (long)align - 1) / (long)align * (long)align), align);
        if (OperatingSystem.IsLinux() && bytes >= HugePage) Advise(p, bytes, MadvHugePage);
        return p;
    }

    static void Advise(void* p, long bytes, int advice)
    {
        try { Madvise((nint)p, (nuint)bytes, advice); } catch (Exception) { /* advice only */ }
    }

    /// <summary>Asks the OS not to back [p, p+bytes) with huge pages (memory touched sparsely, like a KV cache whose
    /// blocks become resident one at a time). Linux; a no-op elsewhere.</summary>
    public static void AdviseNoHugePages(void* p, long bytes)
    {
        if (OperatingSystem.IsLinux()) Advise(p, bytes, MadvNoHugePage);
    }

    /// <summary>After a model's weights are allocated: the partly used huge page at the end of the shared weight chunk
    /// keeps only its used part resident.</summary>
    internal static void TrimWeights()
    {
        if (OperatingSystem.IsLinux()) WeightChunk.TrimCurrent();
    }

    /// <summary>Shared weight chunks holding at least one live block (tests).</summary>
    internal static int LiveWeightChunks => WeightChunk.LiveChunks;

    public static void Clear(void* p, long bytes) => NativeMemory.Clear(p, (nuint)bytes);

    public static void FreeWeights(void* p)
    {
        MemoryUse.RemoveWeights(p);
        if (!WeightChunk.Free(p)) NativeMemory.AlignedFree(p);
    }

    /// <summary>
    /// A 2 MiB-aligned, huge-page-advised region that small weight blocks are carved from in order (64-byte aligned).
    /// When the next block does not fit, the chunk is retired: the untouched rest of its last huge page is given back
    /// (so a half-used 2 MiB page costs nothing) and a new chunk is started. A chunk is freed with its last block.
    /// </summary>
    sealed class WeightChunk
    {
        const long Size = 32L << 20;
        static readonly object Lock = new();
        static readonly Dictionary<nint, WeightChunk> Owners = [];
        static WeightChunk? _current;

        byte* _base;
        long _used;
        int _live;

        public static void* Alloc(long bytes)
        {
            long size = (bytes + 63) / 64 * 64;
            lock (Lock)
            {
                if (_current == null || _current._used + size > Size)
                {
                    _current?.Retire();
                    var c = new WeightChunk { _base = (byte*)NativeMemory.AlignedAlloc((nuint)Size, (nuint)HugePage) };
                    Advise(c._base, Size, MadvHugePage);
                    _current = c;
                }
                var chunk = _current;
                void* p = chunk._base + chunk._used;
                chunk._used += size;
                chunk._live++;
                Owners[(nint)p] = chunk;
                return p;
            }
        }

        /// <summary>Chunks allocated and not yet freed (tests).</summary>
        public static int LiveChunks
        {
            get { lock (Lock) return Owners.Values.Distinct().Count(); }
        }

        /// <summary>Frees a block carved from a chunk (false: p did not come from one).</summary>
        public static bool Free(void* p)
        {
            lock (Lock)
            {
                if (!Owners.Remove((nint)p, out var chunk)) return false;
                if (--chunk._live == 0)
                {
                    if (_current == chunk) _current = null;
                    NativeMemory.AlignedFree(chunk._base);
                    chunk._base = null;
                }
                return true;
            }
        }

        /// <summary>Gives back the untouched rest of the chunk being filled (its last huge page may be half used).</summary>
        public static void TrimCurrent()
        {
            lock (Lock) _current?.Retire();
        }

        void Retire()
        {
            long from = (_used + 4095) / 4096 * 4096;
            if (from < Size) Advise(_base + from, Size - from, MadvDontNeed);
        }
    }

    /// <summary>Tells the OS the whole pages inside [p, p+bytes) of a file mapping are no longer needed (Linux; no-op elsewhere).</summary>
    public static void ReleaseMapped(void* p, long bytes)
    {
        if (!OperatingSystem.IsLinux() || bytes <= 0) return;
        const long page = 4096;
        long start = ((long)p + page - 1) / page * page;
        long end = ((long)p + bytes) / page * page;
        if (end <= start) return;
        Advise((void*)start, end - start, MadvDontNeed);
    }

    /// <summary>
    /// Releases a mapped source while it is read front to back (repacking at load): every few MiB, the pages
    /// before the read position go, so a tensor is never resident twice while it is repacked.
    /// </summary>
    internal struct SequentialRelease(byte* start, bool enabled)
    {
        const long Step = 4 << 20;
        long _done;

        /// <summary>Everything before <paramref name="position"/> (bytes from the start) has been read.</summary>
        public void Advance(long position)
        {
            if (!enabled || position - _done < Step) return;
            long to = position / 4096 * 4096;
            ReleaseMapped(start + _done, to - _done);
            _done = to;
        }
    }
}
