using System.Runtime.InteropServices;

namespace QwenSharp.Tensors;

/// <summary>A growable, 64-byte-aligned block of native memory for scratch and weights (no GC involvement).</summary>
public unsafe struct NativeBuffer : IDisposable
{
    byte* _ptr;
    long _capacity;

    public NativeBuffer(long bytes)
    {
        _ptr = null;
        _capacity = 0;
        if (bytes > 0) EnsureCapacity(bytes);
    }

    public readonly byte* Pointer => _ptr;
    public readonly long Capacity => _capacity;

    /// <summary>Grows to at least <paramref name="bytes"/> (contents are not preserved), zero-filled: by at least
    /// half its size each time, or with <paramref name="exact"/> to exactly <paramref name="bytes"/>.</summary>
    public void EnsureCapacity(long bytes, bool exact = false)
    {
        if (bytes <= _capacity) return;
        if (_ptr != null) { NativeMemory.AlignedFree(_ptr); MemoryUse.AddScratch(-_capacity); }
        long size = exact ? bytes : Math.Max(bytes, _capacity + _capacity / 2);
        _ptr = (byte*)NativeMemory.AlignedAlloc((nuint)size, 64);
        NativeMemory.Clear(_ptr, (nuint)size);
        _capacity = size;
        MemoryUse.AddScratch(size);
    }

    public readonly Span<T> AsSpan<T>(long count) where T : unmanaged => new(_ptr, checked((int)count));

    public void Dispose()
    {
        if (_ptr != null) { NativeMemory.AlignedFree(_ptr); MemoryUse.AddScratch(-_capacity); }
        _ptr = null;
        _capacity = 0;
    }
}
