using System.Runtime.InteropServices;

namespace QwenSharp.Tensors;

/// <summary>
/// Native memory for repacked weights: 2 MiB-aligned and, on Linux, advised for transparent huge pages
/// (fewer TLB misses when streaming weights). Also drops pages of a memory-mapped range from the
/// process once its contents have been repacked, so a model is not resident twice.
/// </summary>
public static unsafe partial class NativeMemoryHelper
{
    const int MadvDontNeed = 4, MadvHugePage = 14;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint addr, nuint length, int advice);

    public static void* AllocWeights(long bytes)
    {
        bytes = Math.Max(bytes, 64);
        nuint align = bytes >= (1 << 21) ? (nuint)(1 << 21) : 64;
        void* p = NativeMemory.AlignedAlloc((nuint)((bytes + (long)align - 1) / (long)align * (long)align), align);
        MemoryUse.AddWeights(p, bytes);
        if (OperatingSystem.IsLinux() && bytes >= (1 << 21))
        {
            try { Madvise((nint)p, (nuint)bytes, MadvHugePage); } catch (Exception) { /* advice only */ }
        }
        return p;
    }

    public static void Clear(void* p, long bytes) => NativeMemory.Clear(p, (nuint)bytes);

    public static void FreeWeights(void* p)
    {
        MemoryUse.RemoveWeights(p);
        NativeMemory.AlignedFree(p);
    }

    /// <summary>Tells the OS the whole pages inside [p, p+bytes) of a file mapping are no longer needed (Linux; no-op elsewhere).</summary>
    public static void ReleaseMapped(void* p, long bytes)
    {
        if (!OperatingSystem.IsLinux() || bytes <= 0) return;
        const long page = 4096;
        long start = ((long)p + page - 1) / page * page;
        long end = ((long)p + bytes) / page * page;
        if (end <= start) return;
        try { Madvise((nint)start, (nuint)(end - start), MadvDontNeed); } catch (Exception) { /* advice only */ }
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
