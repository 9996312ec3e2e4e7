namespace QwenSharp.Lora;

/// <summary>
/// The low-rank update of one linear layer: ΔW = Scale · B · A, so y = x·Wᵀ + Scale · (x·Aᵀ)·Bᵀ.
/// A is [Rank, InFeatures] (PEFT's lora_A.weight), B is [OutFeatures, Rank] (lora_B.weight), both f32,
/// row-major, in pinned arrays (their addresses never move).
/// </summary>
public sealed class LoraWeights
{
    /// <summary>Hugging Face module path, e.g. model.layers.0.self_attn.q_proj.</summary>
    public string Module { get; }
    public int Rank { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public float[] A { get; }
    public float[] B { get; }
    public float Scale { get; set; }

    public LoraWeights(string module, int rank, int inFeatures, int outFeatures, float scale, float[]? a = null, float[]? b = null)
    {
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), $"{module}: rank must be at least 1");
        if (rank > MaxRank) throw new ArgumentOutOfRangeException(nameof(rank), $"{module}: rank {rank} is above the supported {MaxRank}");
        Module = module;
        Rank = rank;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Scale = scale;
        A = GC.AllocateArray<float>(rank * inFeatures, pinned: true);
        B = GC.AllocateArray<float>(outFeatures * rank, pinned: true);
        if (a != null)
        {
            if (a.Length != A.Length) throw new ArgumentException($"{module}: lora_A has {a.Length} values, expected {rank}x{inFeatures}");
            a.CopyTo(A, 0);
        }
        if (b != null)
        {
            if (b.Length != B.Length) throw new ArgumentException($"{module}: lora_B has {b.Length} values, expected {outFeatures}x{rank}");
            b.CopyTo(B, 0);
        }
    }

    /// <summary>Largest rank accepted (the run-time kernel keeps x·Aᵀ on the stack).</summary>
    public const int MaxRank = 4096;

    /// <summary>ΔW row <paramref name="row"/> (length InFeatures) = Scale · Σ_k B[row, k] · A[k, :], added to <paramref name="dst"/>.</summary>
    public void AddDeltaRow(int row, Span<float> dst)
    {
        for (int k = 0; k < Rank; k++)
        {
            float c = Scale * B[row * Rank + k];
            if (c == 0) continue;
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(A.AsSpan(k * InFeatures, InFeatures), c, dst, dst);
        }
    }

    public LoraWeights Clone() => new(Module, Rank, InFeatures, OutFeatures, Scale, A, B);
}
