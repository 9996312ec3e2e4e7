using System.Diagnostics;
using System.Runtime.Intrinsics;
using QwenSharp.Engine;
using QwenSharp.Tensors;

namespace QwenSharp.Bench;

/// <summary>
/// Read bandwidth with the same thread count: a Vector256 integer OR over a 512 MiB native buffer (larger than
/// any cache), split over the worker pool; the median of several passes, in bytes per second. (Integer, not float:
/// the buffer's bit patterns are subnormal floats, and a float sum could measure the adder instead of the memory.)
/// </summary>
public sealed unsafe class BandwidthProbe : ParallelJob, IDisposable
{
    readonly byte* _buf;
    readonly long _bytes;
    readonly int _chunks;
    readonly Vector256<ulong>[] _sink;

    public BandwidthProbe(long bytes = 512L << 20, int threads = 2)
    {
        _bytes = bytes;
        _buf = (byte*)NativeMemoryHelper.AllocWeights(bytes);
        // Touch every page with non-zero data.
        for (long i = 0; i < bytes; i += 4096) _buf[i] = 1;
        _chunks = threads * 16;
        _sink = new Vector256<ulong>[_chunks];
    }

    public override void Execute(int item, int worker)
    {
        long per = _bytes / _chunks / 128 * 128;
        ulong* p = (ulong*)(_buf + item * per);
        long n = per / 8;
        Vector256<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long i = 0; i < n; i += 16)
        {
            a0 |= Vector256.Load(p + i); a1 |= Vector256.Load(p + i + 4);
            a2 |= Vector256.Load(p + i + 8); a3 |= Vector256.Load(p + i + 12);
        }
        _sink[item] = a0 | a1 | a2 | a3;
    }

    public double Measure(WorkerPool pool, int passes = 7)
    {
        var t = new double[passes];
        pool.Run(this, _chunks); // warm
        for (int i = 0; i < passes; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            pool.Run(this, _chunks);
            t[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(t);
        long read = _bytes / _chunks / 128 * 128 * _chunks;
        return read / t[passes / 2];
    }

    public void Dispose() => NativeMemoryHelper.FreeWeights(_buf);
}

public sealed class BandwidthBenchmark : IBenchmark
{
    public string Name => "bandwidth";
    public string Description => "Memory read bandwidth (GB/s) with --threads N";

    public int Run(string[] args)
    {
        var a = new BenchArgs(args);
        int threads = a.GetInt("threads", 2);
        using var pool = new WorkerPool(threads);
        using var probe = new BandwidthProbe(threads: threads);
        for (int i = 0; i < 3; i++) Console.WriteLine($"read bandwidth, {threads} threads: {probe.Measure(pool) / 1e9:F1} GB/s");
        return 0;
    }
}
