namespace QwenSharp.Training;

/// <summary>
/// AdamW as torch.optim.AdamW computes it (decoupled weight decay), over the LoRA parameters:
/// θ ← θ − lr·λ·θ; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// θ ← θ − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε).
/// </summary>
public sealed class AdamW
{
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; }

    /// <summary>Steps taken (t).</summary>
    public int Step { get; internal set; }

    readonly LoraParameters _params;
    /// <summary>First and second moments per tensor, in <see cref="LoraParameters.Parameters"/> order, A then B.</summary>
    internal readonly float[][] M, V;

    public AdamW(LoraParameters parameters)
    {
        _params = parameters;
        var tensors = parameters.Parameters.SelectMany(p => new[] { p.Weights.A, p.Weights.B }).ToArray();
        M = tensors.Select(t => new float[t.Length]).ToArray();
        V = tensors.Select(t => new float[t.Length]).ToArray();
    }

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/> (≤ 0: no clipping); returns the norm before clipping.</summary>
    public double ClipGradients(double maxNorm)
    {
        double ss = 0;
        foreach (var p in _params.Parameters)
        {
            foreach (var g in p.GradA) ss += (double)g * g;
            foreach (var g in p.GradB) ss += (double)g * g;
        }
        double norm = Math.Sqrt(ss);
        if (maxNorm > 0 && norm > maxNorm)
        {
            // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6)
            float coef = (float)(maxNorm / (norm + 1e-6));
            foreach (var p in _params.Parameters)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(p.GradA, coef, p.GradA);
                System.Numerics.Tensors.TensorPrimitives.Multiply(p.GradB, coef, p.GradB);
            }
        }
        return norm;
    }

    /// <summary>One update with learning rate <paramref name="lr"/> from the accumulated gradients.</summary>
    public void Update(double lr)
    {
        Step++;
        double bc1 = 1 - Math.Pow(Beta1, Step), bc2 = 1 - Math.Pow(Beta2, Step);
        float b1 = (float)Beta1, b2 = (float)Beta2;
        float decay = (float)(1 - lr * WeightDecay);
        float stepSize = (float)(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2), eps = (float)Epsilon;
        int k = 0;
        foreach (var p in _params.Parameters)
        {
            Apply(p.Weights.A, p.GradA, M[k], V[k]); k++;
            Apply(p.Weights.B, p.GradB, M[k], V[k]); k++;
        }

        void Apply(float[] w, float[] g, float[] m, float[] v)
        {
            for (int i = 0; i < w.Length; i++)
            {
                float gi = g[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                w[i] = w[i] * decay - stepSize * m[i] / (MathF.Sqrt(v[i]) / bc2Sqrt + eps);
            }
        }
    }
}

/// <summary>Learning-rate schedules as Hugging Face transformers defines them (get_scheduler).</summary>
public enum LrSchedule { Linear, Cosine, Constant }

public static class LearningRate
{
    /// <summary>
    /// The learning rate for update <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>: linear
    /// warmup from 0 over <paramref name="warmupSteps"/>, then linear decay to 0, half-cosine decay to 0, or constant.
    /// </summary>
    public static double At(LrSchedule schedule, double peak, int step, int warmupSteps, int totalSteps)
    {
        if (step < warmupSteps) return peak * step / Math.Max(1, warmupSteps);
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return schedule switch
        {
            LrSchedule.Linear => peak * Math.Max(0, 1 - progress),
            LrSchedule.Cosine => peak * Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * progress))),
            _ => peak,
        };
    }
}
