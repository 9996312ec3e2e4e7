using System.Diagnostics;
using QwenSharp.Engine;
using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>
/// A Qwen2 / Qwen2.5 / Qwen3 (dense or MoE) causal language model: the weights and the forward pass.
/// The forward pass is batch-first: one call takes tokens of several sequences (each with its own KV
/// cache and positions) and returns logits only for the rows asked for.
/// </summary>
public sealed unsafe partial class QwenModel : IDisposable
{
    public ModelConfig Config { get; }
    public Matrix EmbedTokens { get; }                 // [vocab, hidden]
    public IReadOnlyList<DecoderLayer> Layers { get; }
    public float[] Norm { get; }                        // [hidden]
    public Matrix LmHead { get; }                       // [vocab, hidden]; EmbedTokens when tied

    /// <summary>Where the weights were loaded from (folder or .gguf file).</summary>
    public string Source { get; }

    readonly double[] _invFreq;     // [head_dim / 2]
    readonly float _ropeAttentionFactor;
    readonly List<IDisposable> _owned;

    internal QwenModel(ModelConfig config, Matrix embed, DecoderLayer[] layers, float[] norm, Matrix lmHead, string source, List<IDisposable> owned)
    {
        Config = config;
        EmbedTokens = embed;
        Layers = layers;
        Norm = norm;
        LmHead = lmHead;
        Source = source;
        _owned = owned;
        (_invFreq, _ropeAttentionFactor) = RopeFrequencies.Compute(config);
    }

    /// <summary>The RoPE inverse frequencies in use (after any YaRN scaling).</summary>
    public ReadOnlySpan<double> RopeInverseFrequencies => _invFreq;
    public float RopeAttentionFactor => _ropeAttentionFactor;

    public ForwardContext CreateContext(WorkerPool? pool = null) => new(this, pool ?? WorkerPool.Shared);

    public KvCache CreateKvCache(long capacityTokens, KvCacheType type = KvCacheType.F16) => new(Config, capacityTokens, type);

    /// <summary>
    /// Runs the batch through the model, appending its tokens to their sequences' KV caches, and writes
    /// logits [batch.OutputCount, vocab] to <paramref name="logits"/>.
    /// </summary>
    public void Forward(ForwardContext ctx, ForwardBatch batch, Span<float> logits)
    {
        int nOut = batch.OutputCount;
        long vocab = Config.VocabSize;
        if (logits.Length < nOut * vocab)
            throw new ArgumentException($"logits buffer holds {logits.Length} floats; {nOut} rows of {vocab} are needed", nameof(logits));
        fixed (float* l = logits) Forward(ctx, batch, l);
    }

    public void Forward(ForwardContext ctx, ForwardBatch batch, float* logits)
    {
        if (ctx.Model != this) throw new ArgumentException("context belongs to another model", nameof(ctx));
        int n = batch.Count;
        if (n == 0) return;
        int maxLen = Validate(batch);
        ctx.Profile?.Count(n);
        int u = ctx.MicroBatchTokens;
        if (n <= u)
        {
            ForwardMicroBatch(ctx, batch, logits, maxLen);
            return;
        }
        // Micro-batches of at most u tokens, in order: a later one attends to the KV entries the earlier ones
        // wrote, so the result is the same, and scratch memory is bounded by u rather than by the prompt length.
        var micro = ctx.MicroBatch;
        var outputs = batch.OutputIndices;
        int nextOutput = 0;
        long vocab = Config.VocabSize;
        for (int i0 = 0; i0 < n; i0 += u)
        {
            int i1 = Math.Min(n, i0 + u);
            micro.Clear();
            int firstOutput = nextOutput, microMax = 0;
            for (int i = i0; i < i1; i++)
            {
                bool want = nextOutput < outputs.Length && outputs[nextOutput] == i;
                if (want) nextOutput++;
                micro.Add(batch.Sequences[i], batch.Tokens[i], batch.Positions[i], want);
                microMax = Math.Max(microMax, batch.Positions[i] + 1);
            }
            ForwardMicroBatch(ctx, micro, logits + firstOutput * vocab, microMax);
        }
        micro.Clear();
    }

    /// <summary>Checks token ids and positions; returns the longest sequence length the batch reaches.</summary>
    int Validate(ForwardBatch batch)
    {
        var c = Config;
        int n = batch.Count, maxLen = 0;
        for (int i = 0; i < n; i++)
        {
            int t = batch.Tokens[i];
            if ((uint)t >= (uint)c.VocabSize) throw new ArgumentOutOfRangeException(nameof(batch), $"token id {t} is outside the vocabulary (0..{c.VocabSize - 1})");
            var seq = batch.Sequences[i];
            int p = batch.Positions[i];
            if (p < 0 || p > seq.Length + n) throw new ArgumentException($"position {p} does not continue a sequence of length {seq.Length}", nameof(batch));
            maxLen = Math.Max(maxLen, p + 1);
        }
        return maxLen;
    }

    /// <summary>One forward pass over a (validated) batch that fits the context's micro-batch size.</summary>
    void ForwardMicroBatch(ForwardContext ctx, ForwardBatch batch, float* logits, int maxLen)
    {
        int n = batch.Count;
        var c = Config;
        int hidden = c.HiddenSize, hd = c.HeadDim, heads = c.NumAttentionHeads, kvHeads = c.NumKeyValueHeads;
        int qd = heads * hd, kd = kvHeads * hd, half = hd / 2;
        float eps = (float)c.RmsNormEps;

        // Reserve KV space.
        for (int i = 0; i < n; i++)
        {
            var seq = batch.Sequences[i];
            if (i + 1 == n || batch.Sequences[i + 1] != seq || batch.Positions[i + 1] != batch.Positions[i] + 1)
                seq.Reserve(Math.Max(seq.Length, batch.Positions[i] + 1));
        }
        ctx.Ensure(n, maxLen);
        ctx.AnyAdapter = false;
        for (int i = 0; i < n; i++)
        {
            ctx.RowSlots[i] = batch.Sequences[i].AdapterSlot;
            ctx.AnyAdapter |= ctx.RowSlots[i] >= 0;
        }
        var slots = ctx.AnyAdapter ? ctx.RowSlots : null;

        var prof = ctx.Profile;
        long t = prof != null ? Stopwatch.GetTimestamp() : 0;
        for (int i = 0; i < n; i++)
        {
            Rope.Angles(batch.Positions[i], _invFreq, _ropeAttentionFactor, ctx.Cos + i * half, ctx.Sin + i * half);
            EmbedTokens.DequantizeRow(batch.Tokens[i], new Span<float>(ctx.X + (long)i * hidden, hidden));
        }
        prof?.Add(ForwardProfile.Part.Embedding, ref t);

        for (int l = 0; l < Layers.Count; l++)
        {
            var layer = Layers[l];
            var attn = layer.SelfAttn;
            fixed (float* w = layer.InputLayernorm) RmsNorm.Rows(ctx.X, w, ctx.H, n, hidden, eps);
            prof?.Add(ForwardProfile.Part.Norms, ref t);

            // q, k, v projections; Qwen3 normalizes each head of q and k; RoPE; store k and v.
            ProjectShared(ctx, ctx.H, hidden, n, attn.QProj, ctx.Q, attn.KProj, ctx.K, attn.VProj, ctx.V, slots);
            prof?.Add(ForwardProfile.Part.QkvProjection, ref t);
            if (attn.QNorm != null)
            {
                fixed (float* w = attn.QNorm) RmsNorm.Rows(ctx.Q, w, ctx.Q, n * heads, hd, eps);
                fixed (float* w = attn.KNorm) RmsNorm.Rows(ctx.K, w, ctx.K, n * kvHeads, hd, eps);
            }
            for (int i = 0; i < n; i++)
            {
                Rope.Apply(ctx.Q + (long)i * qd, heads, hd, ctx.Cos + i * half, ctx.Sin + i * half);
                Rope.Apply(ctx.K + (long)i * kd, kvHeads, hd, ctx.Cos + i * half, ctx.Sin + i * half);
                StoreKv(batch.Sequences[i], l, batch.Positions[i], ctx.K + (long)i * kd, ctx.V + (long)i * kd);
            }

            prof?.Add(ForwardProfile.Part.RopeAndKvStore, ref t);
            ctx.Attention.Run(batch, l);
            prof?.Add(ForwardProfile.Part.Attention, ref t);
            Project(ctx, attn.OProj, ctx.Attn, qd, n, ctx.Out, slots);
            prof?.Add(ForwardProfile.Part.OutputProjection, ref t);
            Add(ctx.X, ctx.Out, (long)n * hidden);
            prof?.Add(ForwardProfile.Part.Residual, ref t);

            fixed (float* w = layer.PostAttentionLayernorm) RmsNorm.Rows(ctx.X, w, ctx.H, n, hidden, eps);
            prof?.Add(ForwardProfile.Part.Norms, ref t);
            RunMlp(ctx, layer.Mlp, ctx.H, n, ctx.Out, slots);
            prof?.Add(ForwardProfile.Part.FeedForward, ref t);
            Add(ctx.X, ctx.Out, (long)n * hidden);
            prof?.Add(ForwardProfile.Part.Residual, ref t);
        }

        // Final norm and LM head for the requested rows only.
        int nOut = batch.OutputCount;
        if (nOut > 0)
        {
            fixed (float* w = Norm)
                for (int j = 0; j < nOut; j++)
                    RmsNorm.Row(ctx.X + (long)batch.OutputIndices[j] * hidden, w, ctx.OutHidden + (long)j * hidden, hidden, eps);
            ctx.MatMul.Run(LmHead, ctx.OutHidden, hidden, nOut, logits, c.VocabSize);
            prof?.Add(ForwardProfile.Part.LmHead, ref t);
        }

        for (int i = 0; i < n; i++)
        {
            var seq = batch.Sequences[i];
            if (batch.Positions[i] + 1 > seq.Length) seq.Length = batch.Positions[i] + 1;
        }
    }

    /// <summary>y[n, out] = x[n, in] · Wᵀ + b, plus the LoRA term of each row's adapter (slots[i]; null: no adapters in this batch).</summary>
    static void Project(ForwardContext ctx, Linear lin, float* x, int xStride, int n, float* y, int[]? slots)
    {
        ctx.MatMul.Run(lin.Weight, x, xStride, n, y, lin.OutFeatures);
        AddBiasAndAdapters(ctx, lin, x, xStride, n, y, slots);
    }

    /// <summary>
    /// <see cref="Project"/> for two or three linears that read the same input (q/k/v, gate/up): their products run as one
    /// dispatch (<see cref="MatMul.RunShared"/>), then each linear's bias and LoRA term.
    /// </summary>
    static void ProjectShared(ForwardContext ctx, float* x, int xStride, int n, Linear l0, float* y0, Linear l1, float* y1, Linear? l2, float* y2, int[]? slots)
    {
        ctx.MatMul.RunShared(x, xStride, n, l0.Weight, y0, l0.OutFeatures, l1.Weight, y1, l1.OutFeatures, l2?.Weight, y2, l2?.OutFeatures ?? 0);
        AddBiasAndAdapters(ctx, l0, x, xStride, n, y0, slots);
        AddBiasAndAdapters(ctx, l1, x, xStride, n, y1, slots);
        if (l2 != null) AddBiasAndAdapters(ctx, l2, x, xStride, n, y2, slots);
    }

    /// <summary>y += b and the LoRA term of each row's adapter, after y = x · Wᵀ.</summary>
    static void AddBiasAndAdapters(ForwardContext ctx, Linear lin, float* x, int xStride, int n, float* y, int[]? slots)
    {
        int outF = lin.OutFeatures;
        if (lin.Bias is { } bias)
            fixed (float* b = bias)
                for (int i = 0; i < n; i++) Add(y + (long)i * outF, b, outF);
        if (slots != null && lin.Adapters.Length > 0) ctx.Lora.Run(lin, x, xStride, n, y, outF, slots);
    }

    void RunMlp(ForwardContext ctx, Mlp mlp, float* x, int n, float* y, int[]? slots)
    {
        switch (mlp)
        {
            case DenseMlp d:
                RunDense(ctx, d, x, n, y, slots);
                break;
            case SparseMoeMlp moe:
                RunMoe(ctx, moe, x, n, y, slots);
                break;
            default:
                throw new NotSupportedException(mlp.GetType().Name);
        }
    }

    /// <summary>y = down(silu(gate(x)) · up(x)).</summary>
    static void RunDense(ForwardContext ctx, DenseMlp mlp, float* x, int n, float* y, int[]? slots)
    {
        int inter = mlp.GateProj.OutFeatures, hidden = mlp.GateProj.InFeatures;
        ProjectShared(ctx, x, hidden, n, mlp.GateProj, ctx.Gate, mlp.UpProj, ctx.Up, null, null, slots);
        Activations.SiluMul(ctx.Gate, ctx.Up, (long)n * inter);
        Project(ctx, mlp.DownProj, ctx.Gate, inter, n, y, slots);
    }

    void StoreKv(KvSequence seq, int layer, int position, float* k, float* v)
    {
        var cache = seq.Cache;
        int bs = cache.BlockSize, hd = cache.HeadDim;
        int block = seq.Blocks[position / bs], slot = position % bs;
        var type = cache.ElementType;
        long slotBytes = (long)slot * cache.RowBytes;
        for (int g = 0; g < cache.NumKvHeads; g++)
        {
            AttentionKernels.Store(k + g * hd, cache.HeadPointer(layer, block, g, v: false) + slotBytes, hd, type);
            AttentionKernels.Store(v + g * hd, cache.HeadPointer(layer, block, g, v: true) + slotBytes, hd, type);
        }
    }

    static void Add(float* x, float* y, long count) =>
        System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(x, (int)count), new ReadOnlySpan<float>(y, (int)count), new Span<float>(x, (int)count));

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
        _owned.Clear();
    }
}
