using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

public sealed unsafe partial class QwenModel
{
    /// <summary>
    /// Sparse MoE: router logits in f32, softmax, top-k (renormalized when norm_topk_prob), then each
    /// expert runs once on the tokens routed to it (its weights are read once per batch; experts no token
    /// picked are never touched). Qwen2-MoE adds sigmoid(shared_expert_gate · x) · shared_expert(x).
    /// </summary>
    void RunMoe(ForwardContext ctx, SparseMoeMlp moe, float* x, int n, float* y, int[]? slots) => RunMoe(ctx, moe, x, n, y, slots, grouped: true);

    /// <summary>The sparse MoE block for n token rows of x into y (see the overload above).</summary>
    /// <param name="ctx">Scratch and worker pool of this forward pass.</param>
    /// <param name="moe">The layer's experts and router.</param>
    /// <param name="x">Input rows, n × hidden.</param>
    /// <param name="n">Number of token rows.</param>
    /// <param name="y">Output rows, n × hidden (overwritten).</param>
    /// <param name="slots">Each row's LoRA adapter slot, or null when no sequence uses an adapter.</param>
    /// <param name="grouped">true: all routed experts' products in a few pool dispatches per layer
    /// (<see cref="RunExpertsGrouped"/>); false: expert after expert, three matmuls each. Same results.
    /// Sequences with LoRA adapters on the experts (<paramref name="slots"/>) take the expert-after-expert path,
    /// where each projection adds its adapter.</param>
    internal void RunMoe(ForwardContext ctx, SparseMoeMlp moe, float* x, int n, float* y, int[]? slots, bool grouped)
    {
        int hidden = Config.HiddenSize, experts = moe.Experts.Length, k = moe.TopK;
        var counts = ctx.ExpertCounts;
        Array.Clear(counts);
        fixed (float* router = moe.Router) ctx.Moe.Router.Run(ctx.Pool, router, experts, x, hidden, n, ctx.RouterLogits);
        for (int i = 0; i < n; i++)
        {
            float* logits = ctx.RouterLogits + (long)i * experts;
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

        new Span<float>(y, n * hidden).Clear();
        bool adapted = slots != null && ExpertsHaveAdapters(moe);
        if (grouped && !adapted && CanGroup(moe)) RunExpertsGrouped(ctx, moe, x, n, y);
        else RunExpertsOneByOne(ctx, moe, x, n, y, adapted ? slots : null);

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

    /// <summary>Expert after expert: gather its tokens, three matmuls, add back weighted.</summary>
    void RunExpertsOneByOne(ForwardContext ctx, SparseMoeMlp moe, float* x, int n, float* y, int[]? slots)
    {
        int hidden = Config.HiddenSize;
        var counts = ctx.ExpertCounts;
        for (int e = 0; e < moe.Experts.Length; e++)
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
    }

    /// <summary>
    /// Grouping needs every expert's gate and up projections in one storage (so the tokens are converted to
    /// their input form once and shared) and every down projection in one storage, without biases. Stacked
    /// GGUF expert tensors always are; per-expert Hugging Face tensors are when loaded alike.
    /// </summary>
    static bool CanGroup(SparseMoeMlp moe)
    {
        var first = moe.Experts[0];
        Matrix g0 = first.GateProj.Weight, d0 = first.DownProj.Weight;
        foreach (var ex in moe.Experts)
        {
            Matrix g = ex.GateProj.Weight, u = ex.UpProj.Weight, d = ex.DownProj.Weight;
            if (ex.GateProj.Bias != null || ex.UpProj.Bias != null || ex.DownProj.Bias != null) return false;
            if (!SameStorage(g, g0) || !SameStorage(u, g0) || !SameStorage(d, d0)) return false;
        }
        return true;
    }

    /// <summary>Whether a LoRA adapter is attached to any expert projection (a plain loop: this runs every layer, every step).</summary>
    static bool ExpertsHaveAdapters(SparseMoeMlp moe)
    {
        foreach (var ex in moe.Experts)
            if (ex.GateProj.Adapters.Length + ex.UpProj.Adapters.Length + ex.DownProj.Adapters.Length > 0) return true;
        return false;
    }

    static bool SameStorage(Matrix a, Matrix b) =>
        a.GetType() == b.GetType() && a.Type == b.Type && a.Rows == b.Rows && a.Cols == b.Cols;

    /// <summary>
    /// All routed experts of the batch together, in expert order ("slots", see <see cref="MoeScratch"/>):
    /// the tokens are converted to the experts' input form once and gathered per slot; every gate and up
    /// product runs in one pool dispatch, SwiGLU over all slots, the down products in a second dispatch;
    /// then each token adds its experts' outputs, weighted, in expert order (as expert after expert would).
    /// </summary>
    void RunExpertsGrouped(ForwardContext ctx, SparseMoeMlp moe, float* x, int n, float* y)
    {
        int hidden = Config.HiddenSize, experts = moe.Experts.Length;
        var counts = ctx.ExpertCounts;
        Matrix g0 = moe.Experts[0].GateProj.Weight, d0 = moe.Experts[0].DownProj.Weight;
        int inter = g0.Rows, qsIn = g0.QuantizedInputRowBytes, qsDown = d0.QuantizedInputRowBytes;
        int slots = 0;
        for (int e = 0; e < experts; e++) slots += counts[e];
        var s = ctx.Moe;
        s.Ensure(experts, n, slots, hidden, inter, qsIn, qsDown);
        var offsets = s.Offsets;
        for (int e = 0, off = 0; e < experts; e++) { offsets[e] = off; off += counts[e]; }

        // Expert inputs per slot: quantize the n token rows once, then copy each to its slots.
        if (qsIn > 0) s.Quantize.Run(ctx.Pool, g0, x, hidden, n, s.QuantizedTokens, qsIn);
        long inRow = qsIn > 0 ? qsIn : hidden * 4L;
        byte* src = qsIn > 0 ? s.QuantizedTokens : (byte*)x;
        for (int e = 0; e < experts; e++)
            for (int j = 0; j < counts[e]; j++)
                Buffer.MemoryCopy(src + ctx.ExpertTokens[e * n + j] * inRow, s.In + (offsets[e] + j) * inRow, inRow, inRow);

        for (int e = 0; e < experts; e++)
        {
            int m = counts[e], o = offsets[e];
            if (m == 0) continue;
            var input = qsIn > 0 ? new MatMulInput(null, hidden, s.In + o * inRow, qsIn) : new MatMulInput((float*)(s.In + o * inRow), hidden);
            s.Products.Add(moe.Experts[e].GateProj.Weight, input, m, s.Gate + (long)o * inter, inter);
            s.Products.Add(moe.Experts[e].UpProj.Weight, input, m, s.Up + (long)o * inter, inter);
        }
        s.Products.Run(ctx.Pool);
        Activations.SiluMul(s.Gate, s.Up, (long)slots * inter);

        if (qsDown > 0) s.Quantize.Run(ctx.Pool, d0, s.Gate, inter, slots, s.QuantizedDown, qsDown);
        for (int e = 0; e < experts; e++)
        {
            int m = counts[e], o = offsets[e];
            if (m == 0) continue;
            var input = new MatMulInput(s.Gate + (long)o * inter, inter, qsDown > 0 ? s.QuantizedDown + (long)o * qsDown : null, qsDown);
            s.Products.Add(moe.Experts[e].DownProj.Weight, input, m, s.Out + (long)o * hidden, hidden);
        }
        s.Products.Run(ctx.Pool);

        for (int e = 0; e < experts; e++)
            for (int j = 0; j < counts[e]; j++)
            {
                float w = ctx.ExpertWeights[e * n + j];
                var dst = new Span<float>(y + (long)ctx.ExpertTokens[e * n + j] * hidden, hidden);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(s.Out + (long)(offsets[e] + j) * hidden, hidden), w, dst, dst);
            }
    }

    static void RunExpert(ForwardContext ctx, DenseMlp mlp, float* x, int n, float* y, int[]? slots)
    {
        int inter = mlp.GateProj.OutFeatures, hidden = mlp.GateProj.InFeatures;
        Project(ctx, mlp.GateProj, x, hidden, n, ctx.ExpertGate, slots);
        Project(ctx, mlp.UpProj, x, hidden, n, ctx.ExpertUp, slots);
        Activations.SiluMul(ctx.ExpertGate, ctx.ExpertUp, (long)n * inter);
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
