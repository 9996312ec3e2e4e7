using QwenSharp.Engine;
using QwenSharp.Models;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Lora;

/// <summary>
/// Run-time LoRA beside a base matmul: for every batch row whose sequence uses an adapter slot that
/// adapts this layer, y_i += scale · B · (A · x_i). Rows with different adapters (or none) share one
/// batch; each row reads only its own adapter. Split over the worker pool by rows.
/// </summary>
internal sealed unsafe class LoraApplyJob(WorkerPool pool) : ParallelJob
{
    LoraWeights?[] _adapters = [];
    float* _x, _y;
    int _xStride, _ldy, _n, _rowsPerItem;
    int[] _slots = [];

    /// <summary>Adds the LoRA terms of <paramref name="lin"/> to y [n, out] for rows whose slot (slots[i]) it adapts.</summary>
    public void Run(Linear lin, float* x, int xStride, int n, float* y, int ldy, int[] slots)
    {
        var adapters = lin.Adapters;
        bool any = false;
        for (int i = 0; i < n && !any; i++)
            any = (uint)slots[i] < (uint)adapters.Length && adapters[slots[i]] != null;
        if (!any) return;
        _adapters = adapters;
        _x = x; _xStride = xStride; _y = y; _ldy = ldy; _n = n; _slots = slots;
        _rowsPerItem = Math.Max(1, (n + pool.ThreadCount * 2 - 1) / (pool.ThreadCount * 2));
        pool.Run(this, (n + _rowsPerItem - 1) / _rowsPerItem);
        _adapters = [];
        _slots = [];
    }

    public override void Execute(int item, int worker)
    {
        int i0 = item * _rowsPerItem, i1 = Math.Min(_n, i0 + _rowsPerItem);
        float* t = stackalloc float[LoraWeights.MaxRank];
        for (int i = i0; i < i1; i++)
        {
            int slot = _slots[i];
            if ((uint)slot >= (uint)_adapters.Length || _adapters[slot] is not { } w) continue;
            float* xi = _x + (long)i * _xStride;
            float* yi = _y + (long)i * _ldy;
            int r = w.Rank, inF = w.InFeatures, outF = w.OutFeatures;
            fixed (float* a = w.A, b = w.B)
            {
                for (int k = 0; k < r; k++) t[k] = FloatDot.Dot(a + (long)k * inF, xi, inF) * w.Scale;
                for (int o = 0; o < outF; o++)
                {
                    float* bo = b + (long)o * r;
                    float s = 0;
                    for (int k = 0; k < r; k++) s += bo[k] * t[k];
                    yi[o] += s;
                }
            }
        }
    }
}
