namespace QwenSharp.Catalog;

/// <summary>
/// Memory to run a model: weights (<see cref="GgufSize"/>; vision/audio encoders at F16) plus the KV cache at
/// f16 for a context and batch (<c>2 (K and V) x layers x kv_heads x head_dim x context x batch x 2 bytes</c>)
/// plus working buffers (logits of the batch in f32 and the activations of a 512-token step).
/// </summary>
public sealed record MemoryEstimate(GgufQuant Quant, int Context, int Batch, long WeightBytes, long KvCacheBytes, long ComputeBytes)
{
    public long TotalBytes => WeightBytes + KvCacheBytes + ComputeBytes;

    /// <summary>Estimates the memory of <paramref name="arch"/> stored as <paramref name="quant"/>.</summary>
    public static MemoryEstimate For(ModelArchitecture arch, GgufQuant quant, int context, int batch = 1)
    {
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(context), "context must be at least 1 token");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch must be at least 1");
        long weights = GgufSize.TensorBytes(arch, quant) + 2L * ((arch.Vision?.Params ?? 0) + (arch.Audio?.Params ?? 0));
        return new MemoryEstimate(quant, context, batch, weights, KvCacheFor(arch, context, batch), ComputeFor(arch, batch));
    }

    /// <summary>f16 K and V for every layer, position and sequence.</summary>
    public static long KvCacheFor(ModelArchitecture arch, int context, int batch) =>
        2L * arch.Layers * arch.KvHeads * arch.HeadDim * context * batch * 2;

    /// <summary>Logits (f32) for each sequence plus the f32 activations of a 512-token step.</summary>
    public static long ComputeFor(ModelArchitecture arch, int batch)
    {
        long ffn = arch.IsMoe ? (long)arch.ExpertIntermediate * arch.ExpertsUsed + arch.SharedExpertIntermediate : arch.Intermediate;
        return 4L * arch.VocabSize * Math.Max(batch, 1) + 4L * 512 * (4L * arch.Hidden + 3L * ffn) + 4L * arch.VocabSize * 32;
    }
}
