using QwenSharp.Engine;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Training.Ops;

/// <summary>
/// Causal grouped-query attention over a flat batch of sequences, with its backward pass. Token i attends
/// to tokens j with segStart[i] ≤ j ≤ i (its own sequence: packed sequences never see each other);
/// query head h uses kv head h / (heads / kvHeads). The forward pass keeps only the output and the
/// log-sum-exp of each row's scores; the backward pass recomputes the probabilities from them
/// (as flash attention does), so memory stays linear in the sequence length.
/// </summary>
public static unsafe class AttentionOp
{
    /// <summary>o[n, heads, d] and lse[n, heads] from q[n, heads, d], k and v [n, kvHeads, d].</summary>
    public static void Forward(WorkerPool pool, float* q, float* k, float* v, int[] segStart, int n, int heads, int kvHeads, int d, float* o, float* lse)
    {
        int group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(d);
        int maxLen = MaxSegment(segStart, n);
        var scratch = new float[pool.ThreadCount * maxLen];
        ParallelFor.Run(pool, n * heads, (item, worker) =>
        {
            int i = item / heads, h = item % heads, g = h / group, j0 = segStart[i], len = i - j0 + 1;
            float* qi = q + ((long)i * heads + h) * d;
            fixed (float* sc = &scratch[worker * maxLen])
            {
                float max = float.NegativeInfinity;
                for (int j = 0; j < len; j++)
                {
                    float s = FloatDot.Dot(qi, k + ((long)(j0 + j) * kvHeads + g) * d, d) * scale;
                    sc[j] = s;
                    if (s > max) max = s;
                }
                double sum = 0;
                for (int j = 0; j < len; j++) { sc[j] = MathF.Exp(sc[j] - max); sum += sc[j]; }
                float inv = (float)(1 / sum);
                float* oi = o + ((long)i * heads + h) * d;
                new Span<float>(oi, d).Clear();
                for (int j = 0; j < len; j++)
                {
                    float p = sc[j] * inv;
                    float* vj = v + ((long)(j0 + j) * kvHeads + g) * d;
                    for (int c = 0; c < d; c++) oi[c] += p * vj[c];
                }
                lse[(long)i * heads + h] = max + (float)Math.Log(sum);
            }
        });
    }

    /// <summary>
    /// dq (written), dk and dv (accumulated) from dO, given the forward inputs, output and lse. One work item
    /// per (sequence, kv head): the keys and values of a kv head in a sequence are written by one thread.
    /// </summary>
    public static void Backward(WorkerPool pool, float* q, float* k, float* v, float* o, float* lse, float* dO, int[] segStart, int n, int heads, int kvHeads, int d,
        float* dq, float* dk, float* dv)
    {
        int group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(d);
        var segments = new List<(int Start, int End)>();
        for (int i = 0; i < n; i++)
            if (segStart[i] == i) segments.Add((i, i + 1));
            else segments[^1] = (segments[^1].Start, i + 1);
        ParallelFor.Run(pool, segments.Count * kvHeads, (item, worker) =>
        {
            var (s0, s1) = segments[item / kvHeads];
            int g = item % kvHeads;
            for (int i = s0; i < s1; i++)
                    for (int h = g * group; h < (g + 1) * group; h++)
                    {
                        long row = (long)i * heads + h;
                        float* qi = q + row * d, oi = o + row * d, gi = dO + row * d, dqi = dq + row * d;
                        float l = lse[row];
                        float dot = FloatDot.Dot(gi, oi, d); // Σ_j p_j (dO·v_j)
                        new Span<float>(dqi, d).Clear();
                        int len = i - s0 + 1;
                        for (int j = 0; j < len; j++)
                        {
                            long kv = ((long)(s0 + j) * kvHeads + g) * d;
                            float p = MathF.Exp(FloatDot.Dot(qi, k + kv, d) * scale - l);
                            float dp = FloatDot.Dot(gi, v + kv, d);
                            float ds = p * (dp - dot) * scale;
                            float* kj = k + kv, dkj = dk + kv, dvj = dv + kv;
                            for (int c = 0; c < d; c++)
                            {
                                dqi[c] += ds * kj[c];
                                dkj[c] += ds * qi[c];
                                dvj[c] += p * gi[c];
                            }
                        }
                    }
        });
    }

    static int MaxSegment(int[] segStart, int n)
    {
        int m = 1;
        for (int i = 0; i < n; i++) m = Math.Max(m, i - segStart[i] + 1);
        return m;
    }
}
