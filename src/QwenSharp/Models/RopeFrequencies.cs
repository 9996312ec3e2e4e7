namespace QwenSharp.Models;

/// <summary>
/// RoPE inverse frequencies, with YaRN or linear scaling computed as Hugging Face transformers does
/// (_compute_yarn_parameters): inv_freq_i = θ^(-2i/d), blended between extrapolation and
/// interpolation (÷ factor) by a linear ramp over the correction range; YaRN also scales cos and sin by
/// the attention factor 0.1·ln(factor) + 1.
/// </summary>
public static class RopeFrequencies
{
    public static (double[] InvFreq, float AttentionFactor) Compute(ModelConfig c)
    {
        int d = c.HeadDim;
        double theta = c.RopeTheta;
        var inv = new double[d / 2];
        for (int i = 0; i < d / 2; i++) inv[i] = 1.0 / Math.Pow(theta, 2.0 * i / d);
        var s = c.RopeScaling;
        if (s is null) return (inv, 1f);
        if (s.Type == "linear")
        {
            for (int i = 0; i < inv.Length; i++) inv[i] /= s.Factor;
            return (inv, 1f);
        }
        // YaRN
        double factor = s.Factor;
        double original = s.OriginalMaxPositionEmbeddings ?? c.MaxPositionEmbeddings;
        double CorrectionDim(double rotations) => d * Math.Log(original / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = Math.Max(Math.Floor(CorrectionDim(s.BetaFast)), 0);
        double high = Math.Min(Math.Ceiling(CorrectionDim(s.BetaSlow)), d - 1);
        if (low == high) high += 0.001;
        for (int i = 0; i < inv.Length; i++)
        {
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double extrapolationFactor = 1 - ramp;
            inv[i] = inv[i] / factor * (1 - extrapolationFactor) + inv[i] * extrapolationFactor;
        }
        double attention = s.AttentionFactor ?? (factor <= 1 ? 1.0 : 0.1 * Math.Log(factor) + 1.0);
        return (inv, (float)attention);
    }
}
