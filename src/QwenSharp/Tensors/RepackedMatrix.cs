namespace QwenSharp.Tensors;

/// <summary>
/// A quantized matrix whose GGUF rows are repacked into native memory in a kernel layout (<see cref="Interleaved8"/>):
/// at construction, or (lazy: mixture-of-experts weights, experts no token is routed to are never read) on first use,
/// under a lock, by <see cref="Prepare"/>. With <c>releaseMappedSource</c> the source pages (a file mapping) are dropped
/// from the process once read. Computed with one <see cref="Tensors.KernelPath"/>. The derived class lays out the packed
/// bytes (<see cref="PackedBytes"/>, <see cref="Pack"/>) and computes on <see cref="Data"/>.
/// </summary>
public abstract unsafe class RepackedMatrix : Matrix, IDisposable
{
    nint _source;                  // GGUF rows still to repack (lazy), else 0
    readonly long _sourceBytes;
    readonly bool _releaseSource;
    readonly object _packLock = new();

    /// <summary>The repacked weights (null until packed, and after <see cref="Dispose"/>).</summary>
    protected byte* Data { get; private set; }

    protected RepackedMatrix(int rows, int cols, long sourceBytes, bool releaseMappedSource, KernelPath kernels) : base(rows, cols)
    {
        KernelPath = KernelPaths.Resolve(kernels);
        _sourceBytes = sourceBytes;
        _releaseSource = releaseMappedSource;
    }

    /// <summary>The kernels this matrix computes with.</summary>
    public KernelPath KernelPath { get; }

    public override bool OwnsMemory => true;

    /// <summary>True once the weights are in the repacked layout (always, unless created lazy and not used yet).</summary>
    public bool IsPacked => Volatile.Read(ref _source) == 0;

    /// <inheritdoc/>
    public override bool NeedsPrepare => !IsPacked;

    /// <summary>Bytes of the repacked layout.</summary>
    protected abstract long PackedBytes { get; }

    /// <summary>Writes the GGUF rows at <paramref name="src"/> into <paramref name="dst"/> (zeroed, <see cref="PackedBytes"/> long), advancing <paramref name="release"/> row by row.</summary>
    private protected abstract void Pack(byte* src, byte* dst, ref NativeMemoryHelper.SequentialRelease release);

    /// <summary>Repacks now, or keeps <paramref name="src"/> for the first <see cref="Prepare"/>; the derived constructor's last call.</summary>
    protected void PackNowOrOnFirstUse(byte* src, bool lazy)
    {
        if (lazy) _source = (nint)src;
        else Data = PackInto(src, releaseAsRead: _releaseSource);
    }

    byte* PackInto(byte* src, bool releaseAsRead)
    {
        long bytes = PackedBytes;
        byte* data = (byte*)NativeMemoryHelper.AllocWeights(bytes);
        NativeMemoryHelper.Clear(data, bytes);
        var release = new NativeMemoryHelper.SequentialRelease(src, releaseAsRead);
        Pack(src, data, ref release);
        return data;
    }

    /// <inheritdoc/>
    public override void Prepare()
    {
        if (Volatile.Read(ref _source) == 0) return;
        lock (_packLock)
        {
            byte* src = (byte*)_source;
            if (src == null) return;
            Data = PackInto(src, releaseAsRead: false);
            if (_releaseSource) NativeMemoryHelper.ReleaseMapped(src, _sourceBytes);
            Volatile.Write(ref _source, 0);
        }
    }

    public void Dispose()
    {
        if (Data != null) NativeMemoryHelper.FreeWeights(Data);
        Data = null;
    }
}
