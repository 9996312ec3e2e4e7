using QwenSharp.Engine;

namespace QwenSharp.Training.Ops;

/// <summary>Runs a body over items 0..count-1 on the worker pool (training ops are large, so one delegate per call is fine).</summary>
internal sealed class ParallelFor : ParallelJob
{
    Action<int, int>? _body;

    [ThreadStatic] static ParallelFor? _cached;

    /// <summary>body(item, worker) for every item, spread over the pool's threads.</summary>
    public static void Run(WorkerPool pool, int count, Action<int, int> body)
    {
        if (count <= 0) return;
        var job = _cached ?? new ParallelFor();
        _cached = null; // nested calls get their own job
        job._body = body;
        try { pool.Run(job, count); }
        finally
        {
            job._body = null;
            _cached = job;
        }
    }

    public override void Execute(int item, int worker) => _body!(item, worker);
}
