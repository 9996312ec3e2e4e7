using System.Runtime.CompilerServices;

namespace QwenSharp.Engine;

/// <summary>
/// Work split into <c>count</c> independent items, executed by <see cref="WorkerPool.Run"/>.
/// Implementations are reused across calls (set fields, then Run), so dispatch allocates nothing.
/// </summary>
public abstract class ParallelJob
{
    /// <param name="item">0 .. count-1</param>
    /// <param name="worker">0 .. pool.ThreadCount-1: index of the thread running the item (for per-thread scratch).</param>
    public abstract void Execute(int item, int worker);
}

/// <summary>
/// One persistent pool of threads for all kernels: the caller thread works too, items are handed out
/// through an atomic counter, and idle workers spin briefly before they block (spinning alone collapses
/// when another process holds a core). One <see cref="Run"/> per matmul; no Task or Parallel.For.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    readonly Thread[] _threads;
    readonly SemaphoreSlim[] _wake;
    readonly int _spinIterations;

    ParallelJob? _job;
    int _count;
    int _next;          // next item to hand out
    int _pending;       // workers still running the current generation
    long _generation;
    volatile bool _disposed;
    Exception? _error;
    readonly object _runLock = new();

    /// <summary>Total threads working on a job, including the caller.</summary>
    public int ThreadCount { get; }

    public static int DefaultThreads => Math.Max(1, Environment.ProcessorCount);

    static WorkerPool? _shared;
    static readonly object SharedLock = new();

    /// <summary>A process-wide pool with one thread per core, created on first use.</summary>
    public static WorkerPool Shared
    {
        get
        {
            if (_shared != null) return _shared;
            lock (SharedLock) return _shared ??= new WorkerPool(DefaultThreads);
        }
    }

    public WorkerPool(int threads, int spinIterations = 20000)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1");
        ThreadCount = threads;
        _spinIterations = spinIterations;
        _threads = new Thread[threads - 1];
        _wake = new SemaphoreSlim[threads - 1];
        _sleeping = new int[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int worker = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"qwensharp-worker-{worker}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs items 0..count-1 of <paramref name="job"/> on all threads and returns when all are done.</summary>
    public void Run(ParallelJob job, int count)
    {
        if (count <= 0) return;
        if (count == 1 || _threads.Length == 0)
        {
            for (int i = 0; i < count; i++) job.Execute(i, 0);
            return;
        }
        lock (_runLock)
        {
            _job = job;
            _count = count;
            _next = 0;
            _pending = _threads.Length;
            Interlocked.Increment(ref _generation);
            for (int i = 0; i < _wake.Length; i++)
                if (Volatile.Read(ref _sleeping[i]) != 0) _wake[i].Release();
            try { Work(0); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); Volatile.Write(ref _next, int.MaxValue / 2); }
            // Wait for the other workers to finish their items.
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _job = null;
            var err = Interlocked.Exchange(ref _error, null);
            if (err != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(err).Throw();
        }
    }

    readonly int[] _sleeping;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void Work(int worker)
    {
        var job = _job!;
        int count = _count;
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < count) job.Execute(i, worker);
    }

    void WorkerLoop(int worker)
    {
        long seen = 0;
        int slot = worker - 1;
        while (true)
        {
            // Spin for a while waiting for the next generation, then block.
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen && !_disposed)
            {
                if (++spins < _spinIterations) { Thread.SpinWait(20); continue; }
                Interlocked.Exchange(ref _sleeping[slot], 1); // full fence: pairs with the caller's Interlocked.Increment
                if (Volatile.Read(ref _generation) == seen && !_disposed) _wake[slot].Wait(50);
                Volatile.Write(ref _sleeping[slot], 0);
                spins = 0;
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            try { Work(worker); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); Volatile.Write(ref _next, int.MaxValue / 2); }
            finally { Interlocked.Decrement(ref _pending); }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var w in _wake) w.Release();
        foreach (var t in _threads) t.Join();
        foreach (var w in _wake) w.Dispose();
    }
}
