using QwenSharp.Engine;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>
/// Causal grouped-query attention for every token of a batch against its own sequence's KV cache:
/// one work item per (token, kv head), covering the query heads that share that kv head.
/// out_h = Σ_j softmax_j(q_h · k_j / sqrt(head_dim)) v_j over positions j ≤ the token's position.
/// </summary>
internal sealed unsafe class AttentionJob(ForwardContext ctx) : ParallelJob
{
    ForwardBatch? _batch;
    int _layer;

    public void Run(ForwardBatch batch, int layer)
    {
        _batch = batch;
        _layer = layer;
        var c = ctx.Model.Config;
        ctx.Pool.Run(this, batch.Count * c.NumKeyValueHeads);
        _batch = null;
    }

    public override void Execute(int item, int worker)
    {
        var c = ctx.Model.Config;
        int kvHeads = c.NumKeyValueHeads, hd = c.HeadDim, group = c.NumAttentionHeads / kvHeads;
        int i = item / kvHeads, g = item % kvHeads;
        var seq = _batch!.Sequences[i];
        int len = _batch.Positions[i] + 1;
        var cache = seq.Cache;
        int bs = cache.BlockSize;
        var type = cache.ElementType;
        float scale = 1f / MathF.Sqrt(hd);

        float* scratch = ctx.AttnScratch + worker * ctx.AttnScratchStride;
        float* row = scratch + (long)group * len;
        long qd = (long)c.NumAttentionHeads * hd;
        float* q0 = ctx.Q + i * qd + (long)g * group * hd;
        float* out0 = ctx.Attn + i * qd + (long)g * group * hd;
        var blocks = seq.Blocks;

        // Scores for every query head of the group, block by block (each cached key read once for the group); the
        // next block is asked for while this one is computed (measured: 6.5 instead of 7.9 ms per decode step for
        // Qwen3-0.6B at 576 positions).
        int blockBytes = bs * cache.RowBytes;
        for (int b = 0; b * bs < len; b++)
        {
            int count = Math.Min(bs, len - b * bs);
            if ((b + 1) * bs < len) AttentionKernels.Prefetch(cache.HeadPointer(_layer, blocks[b + 1], g, v: false), blockBytes);
            AttentionKernels.BlockScores(cache.HeadPointer(_layer, blocks[b], g, v: false), count, hd, type, q0, group, scale, scratch + b * bs, len, row);
        }
        for (int h = 0; h < group; h++)
        {
            Activations.Softmax(scratch + (long)h * len, len);
            new Span<float>(out0 + h * hd, hd).Clear();
        }
        // out_h += p_h[j] · v_j in position order for every head.
        for (int b = 0; b * bs < len; b++)
        {
            int count = Math.Min(bs, len - b * bs);
            if ((b + 1) * bs < len) AttentionKernels.Prefetch(cache.HeadPointer(_layer, blocks[b + 1], g, v: true), blockBytes);
            AttentionKernels.BlockAccumulate(cache.HeadPointer(_layer, blocks[b], g, v: true), count, hd, type, scratch + b * bs, len, group, out0, row);
        }
    }
}
