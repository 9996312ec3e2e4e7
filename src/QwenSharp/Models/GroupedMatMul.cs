using QwenSharp.Engine;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>
/// Several independent products y_s = x_s · W_sᵀ (in a mixture of experts: one per routed expert and
/// projection) run as ONE dispatch on the worker pool. The work items are row chunks of every product,
/// so a thread moves on to the next expert without waiting at a barrier, and a layer costs a few
/// dispatches instead of three per expert. Inputs must already be in the form each matrix asks for
/// (<see cref="Matrix.InputFormat"/>). Reused across calls: products are kept in an array that only grows.
/// </summary>
internal sealed unsafe class GroupedMatMul : ParallelJob
{
    struct Product
    {
        public Matrix W;
        public MatMulInput X;
        public int N, Ldy, RowsPerItem, FirstItem;
        public float* Y;
    }

    Product[] _products = new Product[32];
    int _count, _items;

    /// <summary>Row chunks each product is split into (a few per thread keeps the threads evenly busy).</summary>
    public int ItemsPerProduct { get; set; } = 8;

    public void Clear()
    {
        // Drop matrix references so a finished model is not kept alive by a context.
        for (int i = 0; i < _count; i++) _products[i].W = null!;
        _count = 0;
        _items = 0;
    }

    /// <summary>Queues y (n rows, stride ldy) = x (n rows) · Wᵀ.</summary>
    public void Add(Matrix w, MatMulInput x, int n, float* y, int ldy)
    {
        if (n <= 0) return;
        if (_count == _products.Length) Array.Resize(ref _products, _count * 2);
        int g = w.RowGranularity;
        int rows = (w.Rows + ItemsPerProduct - 1) / ItemsPerProduct;
        rows = Math.Max(g, (rows + g - 1) / g * g);
        _products[_count++] = new Product { W = w, X = x, N = n, Y = y, Ldy = ldy, RowsPerItem = rows, FirstItem = _items };
        _items += (w.Rows + rows - 1) / rows;
    }

    /// <summary>
    /// Runs every queued product, then clears the queue. Matrices not repacked yet (experts a token is routed to for the
    /// first time) are repacked first, one per work item, so the threads repack different experts side by side instead
    /// of waiting on one expert's lock.
    /// </summary>
    public void Run(WorkerPool pool)
    {
        try
        {
            int unprepared = 0;
            for (int i = 0; i < _count; i++)
                if (_products[i].W.NeedsPrepare)
                {
                    if (unprepared == _toPrepare.Length) Array.Resize(ref _toPrepare, Math.Max(8, 2 * unprepared));
                    _toPrepare[unprepared++] = _products[i].W;
                }
            if (unprepared > 0)
            {
                pool.Run(_prepareJob ??= new PrepareJob(this), unprepared);
                Array.Clear(_toPrepare, 0, unprepared);
            }
            pool.Run(this, _items);
        }
        finally { Clear(); }
    }

    Matrix[] _toPrepare = [];   // matrices to repack before this run (grows; cleared after use)
    PrepareJob? _prepareJob;

    sealed class PrepareJob(GroupedMatMul owner) : ParallelJob
    {
        public override void Execute(int item, int worker) => owner._toPrepare[item].Prepare();
    }

    public override void Execute(int item, int worker)
    {
        // The product this item belongs to: the last one whose first item is <= item.
        int lo = 0, hi = _count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (_products[mid].FirstItem <= item) lo = mid; else hi = mid - 1;
        }
        ref var p = ref _products[lo];
        int r0 = (item - p.FirstItem) * p.RowsPerItem;
        int r1 = Math.Min(p.W.Rows, r0 + p.RowsPerItem);
        p.W.Compute(p.X, p.N, p.Y, p.Ldy, r0, r1);
    }
}

/// <summary>Converts rows of f32 activations into the quantized input form of a matrix type, one row per item.</summary>
internal sealed unsafe class QuantizeRowsJob : ParallelJob
{
    Matrix? _w;
    float* _x;
    int _xStride, _qStride;
    byte* _q;

    /// <summary>q[i] = quantize(x[i]) for i in [0, n), in the form <paramref name="w"/> asks for.</summary>
    public void Run(WorkerPool pool, Matrix w, float* x, int xStride, int n, byte* q, int qStride)
    {
        _w = w; _x = x; _xStride = xStride; _q = q; _qStride = qStride;
        try { pool.Run(this, n); }
        finally { _w = null; }
    }

    public override void Execute(int item, int worker) =>
        _w!.QuantizeInputRow(_x + (long)item * _xStride, _q + (long)item * _qStride);
}
