using QwenSharp.Engine;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>
/// Scratch memory and reusable jobs for forward passes of one model: sized for the largest batch seen
/// so far and reused, so the token loop allocates nothing. One context per thread of control.
/// </summary>
public sealed unsafe class ForwardContext : IDisposable
{
    public QwenModel Model { get; }
    public WorkerPool Pool { get; }
    internal MatMul MatMul { get; }
    internal readonly AttentionJob Attention;
    internal readonly Lora.LoraApplyJob Lora;

    /// <summary>Adapter slot of each batch row (valid while <see cref="AnyAdapter"/>), and of each row gathered for one MoE expert.</summary>
    internal int[] RowSlots = [], ExpertSlots = [];

    internal bool AnyAdapter;

    /// <summary>When set, every forward pass through this context adds the time of each of its parts (null: not timed).</summary>
    public ForwardProfile? Profile { get; set; }

    /// <summary>
    /// Largest number of tokens one pass through the layers takes; longer batches (a long prompt) run as
    /// consecutive micro-batches of this size, as llama.cpp's n_ubatch does. Bounds the scratch memory
    /// (about 60 KB per token for a 0.5B model) at the cost of reading the weights once per micro-batch.
    /// </summary>
    public int MicroBatchTokens
    {
        get => _microBatchTokens;
        set => _microBatchTokens = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MicroBatchTokens), value, "must be at least 1");
    }
    int _microBatchTokens = DefaultMicroBatchTokens;

    /// <summary>The default <see cref="MicroBatchTokens"/>.</summary>
    public const int DefaultMicroBatchTokens = 128;

    internal readonly ForwardBatch MicroBatch = new();

    NativeBuffer _buffer = new(0), _attention = new(0);
    int _tokens = -1, _maxLength = -1;

    // Views into _buffer (valid after Ensure).
    internal float* X, H, Q, K, V, Attn, Gate, Up, Out, Cos, Sin;
    internal float* OutHidden;      // [outputs (≤ tokens), hidden]
    internal float* AttnScratch;    // per worker: scores [groupSize * maxLength] + row [head_dim]
    internal long AttnScratchStride;
    // MoE scratch
    internal float* RouterLogits;   // [tokens, experts]
    internal float* ExpertIn, ExpertOut;   // [tokens, hidden]
    internal float* ExpertGate, ExpertUp;  // [tokens, moe_intermediate]
    internal int[] ExpertTokens = [], ExpertCounts = [];
    internal float[] ExpertWeights = [];
    internal int[] TopKIndex = [];
    internal float[] TopKWeight = [];
    internal readonly MoeScratch Moe = new();

    internal ForwardContext(QwenModel model, WorkerPool pool)
    {
        Model = model;
        Pool = pool;
        MatMul = new MatMul(pool);
        Attention = new AttentionJob(this);
        Lora = new Lora.LoraApplyJob(pool);
    }

    /// <summary>Makes sure scratch fits <paramref name="tokens"/> tokens (output rows are a subset of them) and
    /// attention over up to <paramref name="maxLength"/> positions.</summary>
    internal void Ensure(int tokens, int maxLength)
    {
        var c = Model.Config;
        int hd = c.HeadDim, qd = c.NumAttentionHeads * hd, kd = c.NumKeyValueHeads * hd;
        if (maxLength > _maxLength)
        {
            // Attention scores per worker, apart from the token buffers so a growing sequence does not reallocate
            // them; grown by doubling.
            int length = Math.Max(256, _maxLength);
            while (length < maxLength) length = (int)Math.Min(int.MaxValue, 2L * length);
            int group = c.NumAttentionHeads / c.NumKeyValueHeads;
            long stride = ((long)group * length + hd + 16 + 15) / 16 * 16;
            _attention.EnsureCapacity(stride * Pool.ThreadCount * sizeof(float), exact: true);
            AttnScratch = (float*)_attention.Pointer;
            AttnScratchStride = stride;
            _maxLength = length;
        }
        if (tokens <= _tokens) return;
        tokens = (tokens + 15) / 16 * 16; // sized exactly (no growth factor), in steps of 16 tokens
        bool anyDense = false;
        for (int l = 0; l < c.NumHiddenLayers && !anyDense; l++) anyDense = !c.IsSparseLayer(l);
        long inter = anyDense ? c.IntermediateSize : 0;                                            // dense MLP layers
        long moeTokens = c.IsMoe ? tokens : 0;
        long expertInter = c.IsMoe ? Math.Max(c.MoeIntermediateSize, c.SharedExpertIntermediateSize) : 0;
        long[] sizes =
        [
            (long)tokens * c.HiddenSize,  // X
            (long)tokens * Math.Max(c.HiddenSize, qd),  // H (also o_proj input staging)
            (long)tokens * qd, (long)tokens * kd, (long)tokens * kd, (long)tokens * qd, // Q K V Attn
            tokens * inter, tokens * inter, // Gate Up
            (long)tokens * c.HiddenSize, // Out
            (long)tokens * hd / 2, (long)tokens * hd / 2, // Cos Sin
            (long)tokens * c.HiddenSize, // OutHidden
            moeTokens * Math.Max(1, c.NumExperts), // RouterLogits
            moeTokens * c.HiddenSize, moeTokens * c.HiddenSize, // ExpertIn ExpertOut
            moeTokens * expertInter, moeTokens * expertInter, // ExpertGate ExpertUp
        ];
        long total = 0;
        foreach (var s in sizes) total += (s + 15) / 16 * 16;
        _buffer.EnsureCapacity(total * sizeof(float), exact: true);
        float* p = (float*)_buffer.Pointer;
        float* Next(long count) { float* r = p; p += (count + 15) / 16 * 16; return r; }
        X = Next(sizes[0]); H = Next(sizes[1]); Q = Next(sizes[2]); K = Next(sizes[3]); V = Next(sizes[4]); Attn = Next(sizes[5]);
        Gate = Next(sizes[6]); Up = Next(sizes[7]); Out = Next(sizes[8]); Cos = Next(sizes[9]); Sin = Next(sizes[10]);
        OutHidden = Next(sizes[11]);
        RouterLogits = Next(sizes[12]); ExpertIn = Next(sizes[13]); ExpertOut = Next(sizes[14]); ExpertGate = Next(sizes[15]); ExpertUp = Next(sizes[16]);
        if (c.IsMoe)
        {
            ExpertTokens = new int[c.NumExperts * tokens];
            ExpertWeights = new float[c.NumExperts * tokens];
            ExpertCounts = new int[c.NumExperts];
            TopKIndex = new int[c.NumExpertsPerTok];
            TopKWeight = new float[c.NumExpertsPerTok];
        }
        RowSlots = new int[tokens];
        ExpertSlots = new int[tokens];
        _tokens = tokens;
    }

    public void Dispose()
    {
        MatMul.Dispose();
        Moe.Dispose();
        _buffer.Dispose();
        _attention.Dispose();
    }
}
