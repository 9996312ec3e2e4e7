using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

public sealed unsafe partial class QwenModel
{
    /// <summary>
    /// Sparse MoE: router logits in f32, softmax, top-k (renormalized when norm_topk_prob), then each
    /// expert runs once on the tokens routed to it (its weights are read once per batch; experts no token
    /// picked are never touched). Qwen2-MoE adds sigmoid(shared_expert_gate · x) · shared_expert(x).
    /// </summary>
    void RunMoe(ForwardContext ctx, SparseMoeMlp moe, float* x, int n, float* y, int[]? slots)
    {
        int hidden = Config.HiddenSize, experts = moe.Experts.Length, k = moe.TopK;
        var counts = ctx.ExpertCounts;
        Array.Clear(counts);
        fixed (float* router = moe.Router)
        {
            for (int i = 0; i < n; i++)
            {
                float* xi = x + (long)i * hidden;
                float* logits = ctx.RouterLogits + (long)i * experts;
                for (int e = 0; e < experts; e++) logits[e] = FloatDot.Dot(router + (long)e * hidden, xi, hidden);
                Activations.Softmax(logits, experts);
                TopK(logits, experts, ctx.TopKIndex, ctx.TopKWeight, k);
                float sum = 0;
                for (int j = 0; j < k; j++) sum += ctx.TopKWeight[j];
                for (int j = 0; j < k; j++)
                {
                    int e = ctx.TopKIndex[j];
                    int slot = e * n + counts[e]++;
                    ctx.ExpertTokens[slot] = i;
                    ctx.ExpertWeights[slot] = moe.NormTopkProb ? ctx.TopKWeight[j] / sum : ctx.TopKWeight[j];
                }
            }
        }

        new Span<float>(y, n * hidden).Clear();
        for (int e = 0; e < experts; e++)
        {
            int m = counts[e];
            if (m == 0) continue;
            for (int j = 0; j < m; j++)
            {
                int token = ctx.ExpertTokens[e * n + j];
                Buffer.MemoryCopy(x + (long)token * hidden, ctx.ExpertIn + (long)j * hidden, hidden * 4L, hidden * 4L);
                if (slots != null) ctx.ExpertSlots[j] = slots[token];
            }
            RunExpert(ctx, moe.Experts[e], ctx.ExpertIn, m, ctx.ExpertOut, slots == null ? null : ctx.ExpertSlots);
            for (int j = 0; j < m; j++)
            {
                float w = ctx.ExpertWeights[e * n + j];
                var dst = new Span<float>(y + (long)ctx.ExpertTokens[e * n + j] * hidden, hidden);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(ctx.ExpertOut + (long)j * hidden, hidden), w, dst, dst);
            }
        }

        if (moe.SharedExpert is { } shared)
        {
            RunExpert(ctx, shared, x, n, ctx.ExpertOut, slots);
            fixed (float* gate = moe.SharedExpertGate)
                for (int i = 0; i < n; i++)
                {
                    float g = gate == null ? 1f : Activations.Sigmoid(FloatDot.Dot(gate, x + (long)i * hidden, hidden));
                    var dst = new Span<float>(y + (long)i * hidden, hidden);
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(ctx.ExpertOut + (long)i * hidden, hidden), g, dst, dst);
                }
        }
    }

    static void RunExpert(ForwardContext ctx, DenseMlp mlp, float* x, int n, float* y, int[]? slots)
    {
        int inter = mlp.GateProj.OutFeatures, hidden = mlp.GateProj.InFeatures;
        Project(ctx, mlp.GateProj, x, hidden, n, ctx.ExpertGate, slots);
        Project(ctx, mlp.UpProj, x, hidden, n, ctx.ExpertUp, slots);
        Activations.SiluMul(ctx.ExpertGate, ctx.ExpertUp, n * inter, ctx.Scratch);
        Project(ctx, mlp.DownProj, ctx.ExpertGate, inter, n, y, slots);
    }

    /// <summary>The k largest of p (ties: lower index first), in descending order.</summary>
    internal static void TopK(float* p, int count, int[] index, float[] weight, int k)
    {
        for (int j = 0; j < k; j++) { index[j] = -1; weight[j] = float.NegativeInfinity; }
        for (int e = 0; e < count; e++)
        {
            float v = p[e];
            if (v <= weight[k - 1]) continue;
            int j = k - 1;
            while (j > 0 && v > weight[j - 1]) { weight[j] = weight[j - 1]; index[j] = index[j - 1]; j--; }
            weight[j] = v;
            index[j] = e;
        }
    }
}
