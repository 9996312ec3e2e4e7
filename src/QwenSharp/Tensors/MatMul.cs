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
    readonly NativeBuffer[] _quantized = [new(0), new(0), new(0)];

    // Current call (set by RunShared, read by Execute): up to three products over one input.
    struct Part
    {
        public Matrix? W;
        public MatMulInput X;
        public float* Y;
        public int Ldy, RowsPerItem, FirstItem;
    }

    Part _p0, _p1, _p2;
    int _n;

    // Input quantization (parallel over input rows).
    readonly QuantizeJob _quantizeJob = new();

    public MatMul(WorkerPool pool) => _pool = pool;

    public WorkerPool Pool => _pool;

    /// <summary>y (row stride ldy floats) = x (n rows, stride xStride floats) · Wᵀ.</summary>
    public void Run(Matrix w, float* x, int xStride, int n, float* y, int ldy) =>
        RunShared(x, xStride, n, w, y, ldy, null, null, 0, null, null, 0);

    /// <summary>
    /// y_j (row stride ldy_j) = x · W_jᵀ for up to three matrices that read the same input (q/k/v, gate/up), as ONE
    /// dispatch: the work items are row chunks of every product, so no thread waits at a barrier between them, and the
    /// input is quantized once per input form. The same results as one <see cref="Run"/> per matrix.
    /// </summary>
    public void RunShared(float* x, int xStride, int n, Matrix w0, float* y0, int ldy0, Matrix? w1, float* y1, int ldy1, Matrix? w2, float* y2, int ldy2)
    {
        if (n <= 0) return;
        _n = n;
        // Aim for a few items per thread and product so a slow thread does not hold up the others.
        int itemsPerProduct = Math.Max(1, _pool.ThreadCount * 4);
        int items = 0;
        Set(ref _p0, w0, y0, ldy0, 0, x, xStride, n, itemsPerProduct, ref items);
        _p1.FirstItem = _p2.FirstItem = int.MaxValue;
        if (w1 != null) Set(ref _p1, w1, y1, ldy1, 1, x, xStride, n, itemsPerProduct, ref items);
        if (w2 != null) Set(ref _p2, w2, y2, ldy2, 2, x, xStride, n, itemsPerProduct, ref items);
        try { _pool.Run(this, items); }
        finally { _p0.W = _p1.W = _p2.W = null; }
    }

    /// <summary>Product j: the matrix made ready, its input quantized (or shared with an earlier product's of the same form), its row chunks numbered from <paramref name="items"/>.</summary>
    void Set(ref Part p, Matrix w, float* y, int ldy, int j, float* x, int xStride, int n, int itemsPerProduct, ref int items)
    {
        w.Prepare();
        byte* q = null;
        int qStride = w.QuantizedInputRowBytes;
        if (qStride > 0)
        {
            if (j > 0 && _p0.W!.InputFormat == w.InputFormat && _p0.X.QuantizedStride == qStride) q = _p0.X.Quantized;
            else if (j > 1 && _p1.W!.InputFormat == w.InputFormat && _p1.X.QuantizedStride == qStride) q = _p1.X.Quantized;
            else
            {
                _quantized[j].EnsureCapacity((long)qStride * n);
                q = _quantized[j].Pointer;
                _quantizeJob.Set(w, x, xStride, q, qStride);
                _pool.Run(_quantizeJob, n);
            }
        }
        int g = w.RowGranularity;
        int rows = (w.Rows + itemsPerProduct - 1) / itemsPerProduct;
        rows = Math.Max(g, (rows + g - 1) / g * g);
        p = new Part { W = w, X = new MatMulInput(x, xStride, q, qStride), Y = y, Ldy = ldy, RowsPerItem = rows, FirstItem = items };
        items += (w.Rows + rows - 1) / rows;
    }

    public override void Execute(int item, int worker)
    {
        ref Part p = ref item < _p1.FirstItem ? ref _p0 : ref item < _p2.FirstItem ? ref _p1 : ref _p2;
        int r0 = (item - p.FirstItem) * p.RowsPerItem;
        int r1 = Math.Min(p.W!.Rows, r0 + p.RowsPerItem);
        p.W.Compute(p.X, _n, p.Y, p.Ldy, r0, r1);
    }

    public void Dispose()
    {
        for (int j = 0; j < _quantized.Length; j++) _quantized[j].Dispose();
    }

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
