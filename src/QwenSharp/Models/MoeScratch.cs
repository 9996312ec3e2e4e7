using QwenSharp.Engine;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>
/// Scratch memory and reusable jobs of the mixture-of-experts block for one forward context. The routed
/// (token, expert) pairs of a batch are laid out expert by expert ("slots"): expert e's tokens occupy
/// slots Offsets[e] .. Offsets[e] + count - 1. Buffers grow to the largest batch seen and are reused.
/// </summary>
internal sealed unsafe class MoeScratch : IDisposable
{
    NativeBuffer _tokens = new(0), _in = new(0), _gate = new(0), _up = new(0), _down = new(0), _out = new(0);

    public readonly GroupedMatMul Products = new();
    public readonly QuantizeRowsJob Quantize = new();
    public readonly RouterJob Router = new();
    public int[] Offsets = [];

    /// <summary>Token rows in the experts' quantized input form [tokens, qsIn].</summary>
    public byte* QuantizedTokens => _tokens.Pointer;
    /// <summary>Gathered expert inputs per slot: quantized rows [slots, qsIn], or f32 rows [slots, hidden].</summary>
    public byte* In => _in.Pointer;
    public float* Gate => (float*)_gate.Pointer;      // [slots, inter]; silu(gate) · up after the activation
    public float* Up => (float*)_up.Pointer;          // [slots, inter]
    public byte* QuantizedDown => _down.Pointer;      // [slots, qsDown]
    public float* Out => (float*)_out.Pointer;        // [slots, hidden]

    public void Ensure(int experts, int tokens, int slots, int hidden, int inter, int qsIn, int qsDown)
    {
        if (Offsets.Length < experts) Offsets = new int[experts];
        _tokens.EnsureCapacity((long)tokens * qsIn);
        _in.EnsureCapacity((long)slots * Math.Max(qsIn, hidden * 4));
        _gate.EnsureCapacity((long)slots * inter * 4);
        _up.EnsureCapacity((long)slots * inter * 4);
        _down.EnsureCapacity((long)slots * qsDown);
        _out.EnsureCapacity((long)slots * hidden * 4);
    }

    public void Dispose()
    {
        _tokens.Dispose(); _in.Dispose(); _gate.Dispose(); _up.Dispose(); _down.Dispose(); _out.Dispose();
    }
}

/// <summary>
/// Router logits in f32: logits[i, e] = router[e] · x[i], split over the pool by (token, block of experts),
/// so one token's 128 dot products (a 1 MiB f32 router in Qwen3-30B-A3B) are shared by the threads too.
/// </summary>
internal sealed unsafe class RouterJob : ParallelJob
{
    const int ExpertsPerItem = 32;
    float* _router, _x, _logits;
    int _experts, _hidden, _blocks;

    public void Run(WorkerPool pool, float* router, int experts, float* x, int hidden, int n, float* logits)
    {
        _router = router; _experts = experts; _x = x; _hidden = hidden; _logits = logits;
        _blocks = (experts + ExpertsPerItem - 1) / ExpertsPerItem;
        pool.Run(this, n * _blocks);
    }

    public override void Execute(int item, int worker)
    {
        int i = item / _blocks, e0 = item % _blocks * ExpertsPerItem, e1 = Math.Min(_experts, e0 + ExpertsPerItem);
        float* xi = _x + (long)i * _hidden;
        float* li = _logits + (long)i * _experts;
        for (int e = e0; e < e1; e++) li[e] = Tensors.Kernels.FloatDot.Dot(_router + (long)e * _hidden, xi, _hidden);
    }
}
