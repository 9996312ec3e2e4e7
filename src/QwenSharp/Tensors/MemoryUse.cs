using System.Collections.Concurrent;

namespace QwenSharp.Tensors;

/// <summary>
/// Counts the native memory the engine holds, by purpose, for reports such as <c>qwensharp bench</c>'s memory
/// breakdown: repacked weights (<see cref="NativeMemoryHelper.AllocWeights"/>) and scratch (<see cref="NativeBuffer"/>).
/// KV caches report their own size (<c>KvCache.ByteSize</c>). Process-wide, all models together.
/// </summary>
public static class MemoryUse
{
    static long _weights, _scratch;
    static readonly ConcurrentDictionary<nint, long> WeightBlocks = new();

    /// <summary>Bytes of weights repacked or quantized into native memory.</summary>
    public static long WeightBytes => Interlocked.Read(ref _weights);

    /// <summary>Bytes of native scratch buffers (forward-pass activations, quantized inputs).</summary>
    public static long ScratchBytes => Interlocked.Read(ref _scratch);

    internal static unsafe void AddWeights(void* p, long bytes)
    {
        WeightBlocks[(nint)p] = bytes;
        Interlocked.Add(ref _weights, bytes);
    }

    internal static unsafe void RemoveWeights(void* p)
    {
        if (WeightBlocks.TryRemove((nint)p, out long bytes)) Interlocked.Add(ref _weights, -bytes);
    }

    internal static void AddScratch(long bytes) => Interlocked.Add(ref _scratch, bytes);
}
