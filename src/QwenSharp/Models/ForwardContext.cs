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

    NativeBuffer _buffer = new(0);
    int _tokens = -1, _outputs = -1, _maxLength = -1;

    // Views into _buffer (valid after Ensure).
    internal float* X, H, Q, K, V, Attn, Gate, Up, Out, Cos, Sin;
    internal float* OutHidden;      // [outputs, hidden]
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

    /// <summary>Makes sure scratch fits <paramref name="tokens"/> tokens, <paramref name="outputs"/> output rows
    /// and attention over up to <paramref name="maxLength"/> positions.</summary>
    internal void Ensure(int tokens, int outputs, int maxLength)
    {
        if (tokens <= _tokens && outputs <= _outputs && maxLength <= _maxLength) return;
        tokens = Math.Max(tokens, _tokens);
        outputs = Math.Max(outputs, _outputs);
        maxLength = Math.Max(Math.Max(maxLength, _maxLength), 256);
        var c = Model.Config;
        int hd = c.HeadDim, qd = c.NumAttentionHeads * hd, kd = c.NumKeyValueHeads * hd;
        bool anyDense = false;
        for (int l = 0; l < c.NumHiddenLayers && !anyDense; l++) anyDense = !c.IsSparseLayer(l);
        long inter = anyDense ? c.IntermediateSize : 0;                                            // dense MLP layers
        long moeTokens = c.IsMoe ? tokens : 0;
        long expertInter = c.IsMoe ? Math.Max(c.MoeIntermediateSize, c.SharedExpertIntermediateSize) : 0;
        int group = c.NumAttentionHeads / c.NumKeyValueHeads;
        long attnScratch = (long)group * maxLength + hd + 16;
        long[] sizes =
        [
            (long)tokens * c.HiddenSize,  // X
            (long)tokens * Math.Max(c.HiddenSize, qd),  // H (also o_proj input staging)
            (long)tokens * qd, (long)tokens * kd, (long)tokens * kd, (long)tokens * qd, // Q K V Attn
            tokens * inter, tokens * inter, // Gate Up
            (long)tokens * c.HiddenSize, // Out
            (long)tokens * hd / 2, (long)tokens * hd / 2, // Cos Sin
            (long)outputs * c.HiddenSize, // OutHidden
            attnScratch * Pool.ThreadCount, // AttnScratch
            moeTokens * Math.Max(1, c.NumExperts), // RouterLogits
            moeTokens * c.HiddenSize, moeTokens * c.HiddenSize, // ExpertIn ExpertOut
            moeTokens * expertInter, moeTokens * expertInter, // ExpertGate ExpertUp
        ];
        long total = 0;
        foreach (var s in sizes) total += (s + 15) / 16 * 16;
        _buffer.EnsureCapacity(total * sizeof(float));
        float* p = (float*)_buffer.Pointer;
        float* Next(long count) { float* r = p; p += (count + 15) / 16 * 16; return r; }
        X = Next(sizes[0]); H = Next(sizes[1]); Q = Next(sizes[2]); K = Next(sizes[3]); V = Next(sizes[4]); Attn = Next(sizes[5]);
        Gate = Next(sizes[6]); Up = Next(sizes[7]); Out = Next(sizes[8]); Cos = Next(sizes[9]); Sin = Next(sizes[10]);
        OutHidden = Next(sizes[11]); AttnScratch = Next(sizes[12]); AttnScratchStride = attnScratch;
        RouterLogits = Next(sizes[13]); ExpertIn = Next(sizes[14]); ExpertOut = Next(sizes[15]); ExpertGate = Next(sizes[16]); ExpertUp = Next(sizes[17]);
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
        _tokens = tokens; _outputs = outputs; _maxLength = maxLength;
    }

    public void Dispose()
    {
        MatMul.Dispose();
        Moe.Dispose();
        _buffer.Dispose();
    }
}
