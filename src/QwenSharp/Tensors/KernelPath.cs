using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors;

/// <summary>Which implementation computes the quantized matrix products of a matrix.</summary>
public enum KernelPath
{
    /// <summary>The <c>QWENSHARP_KERNELS</c> environment variable if set, else the fastest this CPU has (<see cref="KernelPaths.Best"/>).</summary>
    Auto,
    /// <summary>x86-64 AVX2 + FMA kernels (256-bit <c>vpmaddubsw</c>/<c>vpmaddwd</c>, 8 rows × up to 4 inputs).</summary>
    Avx2,
    /// <summary>
    /// Portable 128-bit kernels written with the cross-platform <see cref="Vector128"/> API: NEON on ARM64, SSE on x86-64.
    /// Same integer sums and the same float operations per row as the AVX2 kernels, so the results are bit-identical.
    /// </summary>
    Vector128,
    /// <summary>The scalar reference (rebuilds GGUF blocks and uses <see cref="Quantization.ReferenceDot"/>): correct and slow.</summary>
    Scalar,
}

/// <summary>Chooses a <see cref="KernelPath"/>.</summary>
public static class KernelPaths
{
    /// <summary>Environment variable that overrides the automatic choice: <c>auto</c>, <c>avx2</c>, <c>vector128</c> or <c>scalar</c>.</summary>
    public const string EnvironmentVariable = "QWENSHARP_KERNELS";

    /// <summary>The fastest path this CPU runs: AVX2 where it has AVX2 and FMA, else Vector128 where 128-bit vectors are hardware-accelerated (ARM64 NEON), else scalar.</summary>
    public static KernelPath Best =>
        Avx2.IsSupported && Fma.IsSupported ? KernelPath.Avx2
        : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? KernelPath.Vector128
        : KernelPath.Scalar;

    /// <summary>
    /// The path a matrix asked for <paramref name="requested"/> uses: <see cref="KernelPath.Auto"/> becomes the
    /// environment variable's choice, or <see cref="Best"/>. Throws, naming the variable or path, for an unknown value
    /// or for AVX2 on a CPU without it.
    /// </summary>
    public static KernelPath Resolve(KernelPath requested = KernelPath.Auto)
    {
        if (requested == KernelPath.Auto)
        {
            string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
            requested = string.IsNullOrWhiteSpace(env) ? KernelPath.Auto : Parse(env.Trim());
            if (requested == KernelPath.Auto) return Best;
        }
        if (requested == KernelPath.Avx2 && Best != KernelPath.Avx2)
            throw new NotSupportedException($"kernel path 'avx2' needs a CPU with AVX2 and FMA, which this one lacks (set {EnvironmentVariable}=auto)");
        return requested;
    }

    internal static KernelPath Parse(string value) => value.ToLowerInvariant() switch
    {
        "auto" => KernelPath.Auto,
        "avx2" => KernelPath.Avx2,
        "vector128" => KernelPath.Vector128,
        "scalar" => KernelPath.Scalar,
        _ => throw new ArgumentException($"{EnvironmentVariable}='{value}' is not one of auto, avx2, vector128, scalar"),
    };

    /// <summary>Lower-case name of a path, as the environment variable spells it.</summary>
    public static string Name(KernelPath path) => path.ToString().ToLowerInvariant();
}
