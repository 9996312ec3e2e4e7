using QwenSharp.Engine;

namespace QwenSharp.Tensors;

/// <summary>
/// The matmul driver: y[n, Rows] = x[n, Cols] · Wᵀ. Converts the input once (when the matrix wants
/// quantized input), then splits the output rows into chunks over the worker pool: one dispatch per
/// matmul, no allocation (scratch grows only when a larger batch arrives). Not thread-safe: each
/// forward-pass context owns one.
/// </summary>
public sealed unsafe class MatMul : ParallelJob, IDisposable
{
    readonly WorkerPool _pool;
    NativeBuffer _quantized = new(0);

    // Current call (set by Run, read by Execute).
    Matrix? _w;
    MatMulInput _x;
    int _n;
    float* _y;
    int _ldy;
    int _rowsPerItem;

    // Input quantization (parallel over input rows).
    readonly QuantizeJob _quantizeJob = new();

    public MatMul(WorkerPool pool) => _pool = pool;

    public WorkerPool Pool => _pool;

    /// <summary>y (row stride ldy floats) = x (n rows, stride xStride floats) · Wᵀ.</summary>
    public void Run(Matrix w, float* x, int xStride, int n, float* y, int ldy)
    {
        if (n <= 0) return;
        w.Prepare();
        byte* q = null;
        int qStride = w.QuantizedInputRowBytes;
        if (qStride > 0)
        {
            _quantized.EnsureCapacity((long)qStride * n);
            q = _quantized.Pointer;
            _quantizeJob.Set(w, x, xStride, q, qStride);
            _pool.Run(_quantizeJob, n);
        }
        _w = w;
        _x = new MatMulInput(x, xStride, q, qStride);
        _n = n;
        _y = y;
        _ldy = ldy;
        int g = w.RowGranularity;
        // Aim for a few items per thread so a slow thread does not hold up the others.
        int items = Math.Max(1, _pool.ThreadCount * 4);
        int rows = (w.Rows + items - 1) / items;
        rows = Math.Max(g, (rows + g - 1) / g * g);
        _rowsPerItem = rows;
        _pool.Run(this, (w.Rows + rows - 1) / rows);
        _w = null;
    }

    public override void Execute(int item, int worker)
    {
        int r0 = item * _rowsPerItem;
        int r1 = Math.Min(_w!.Rows, r0 + _rowsPerItem);
        _w.Compute(_x, _n, _y, _ldy, r0, r1);
    }

    public void Dispose() => _quantized.Dispose();

    sealed class QuantizeJob : ParallelJob
    {
        Matrix? _w;
        float* _x;
        int _xStride;
        byte* _q;
        int _qStride;

        public void Set(Matrix w, float* x, int xStride, byte* q, int qStride)
        {
            _w = w; _x = x; _xStride = xStride; _q = q; _qStride = qStride;
        }

        public override void Execute(int item, int worker) =>
            _w!.QuantizeInputRow(_x + (long)item * _xStride, _q + (long)item * _qStride);
    }
}
