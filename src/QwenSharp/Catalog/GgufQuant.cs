using QwenSharp.Tensors;

namespace QwenSharp.Catalog;

/// <summary>The GGUF file types the catalog sizes (llama.cpp's names; Q4_K_M and Q5_K_M are mixtures).</summary>
public enum GgufQuant { F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0 }

public static class GgufQuantInfo
{
    /// <summary>The tensor type most weights get (llama.cpp's <c>llama_ftype_get_default_type</c>).</summary>
    public static GgmlType DefaultType(GgufQuant q) => q switch
    {
        GgufQuant.F32 => GgmlType.F32,
        GgufQuant.F16 => GgmlType.F16,
        GgufQuant.BF16 => GgmlType.BF16,
        GgufQuant.Q8_0 => GgmlType.Q8_0,
        GgufQuant.Q6_K => GgmlType.Q6_K,
        GgufQuant.Q5_K_M => GgmlType.Q5_K,
        GgufQuant.Q4_K_M => GgmlType.Q4_K,
        GgufQuant.Q4_0 => GgmlType.Q4_0,
        _ => throw new ArgumentOutOfRangeException(nameof(q)),
    };

    public static bool IsQuantized(GgufQuant q) => q is not (GgufQuant.F32 or GgufQuant.F16 or GgufQuant.BF16);

    /// <summary>The file-name fragment used in --include patterns ("Q4_K_M", "Q8_0", "F16", ...).</summary>
    public static string Name(GgufQuant q) => q.ToString();

    /// <summary>Parses "q4_k_m", "Q8_0", "f16", "fp16", "bf16" (any case).</summary>
    public static bool TryParse(string? text, out GgufQuant quant)
    {
        quant = default;
        string? t = text?.Trim().ToUpperInvariant();
        if (t == "FP16") t = "F16";
        if (t == "FP32") t = "F32";
        return t != null && Enum.TryParse(t, ignoreCase: false, out quant) && Enum.IsDefined(quant);
    }

    /// <summary>
    /// Rough share of the full-precision quality kept, for ranking only (from llama.cpp's published
    /// perplexity increases: Q8_0 ~ +0.0004, Q6_K ~ +0.004, Q5_K_M ~ +0.02, Q4_K_M ~ +0.05, Q4_0 ~ +0.25 ppl on 7B).
    /// </summary>
    public static double QualityFactor(GgufQuant q) => q switch
    {
        GgufQuant.F32 or GgufQuant.F16 or GgufQuant.BF16 => 1.0,
        GgufQuant.Q8_0 => 0.999,
        GgufQuant.Q6_K => 0.995,
        GgufQuant.Q5_K_M => 0.985,
        GgufQuant.Q4_K_M => 0.97,
        GgufQuant.Q4_0 => 0.93,
        _ => 0.9,
    };
}
