using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tensors;

/// <summary>Makes the <see cref="Matrix"/> view for a weight tensor of a given storage type.</summary>
public static unsafe class MatrixFactory
{
    /// <summary>
    /// A matrix over <paramref name="data"/> ([rows, cols] row-major in <paramref name="type"/>).
    /// Float types are computed where they lie; quantized types are repacked into native memory in the 8-row-interleaved
    /// layouts (<see cref="Block32Matrix"/>, <see cref="InterleavedKQuantMatrix"/>), and the result is then
    /// <see cref="IDisposable"/>: the caller owns it. Throws <see cref="NotSupportedException"/> naming the tensor and type
    /// when the type has no kernel.
    /// <para><paramref name="kernels"/> picks the kernel path (<see cref="KernelPaths.Resolve"/>: AVX2, the portable
    /// Vector128 kernels, or the scalar reference, which computes K-quants where they lie with <see cref="KQuantMatrix"/>).
    /// With <paramref name="sparseUse"/> (mixture-of-experts weights, of which a token reads only a few), nothing is copied
    /// at load: each matrix is repacked on first use, so experts no token routes to are never read; with
    /// <paramref name="dataIsMapped"/>, the source pages are then released from the process (eager repacks release them as
    /// they go). With <paramref name="sparseInPlace"/> too, K-quants are not repacked at all but computed where they lie
    /// (<see cref="KQuantMatrix"/>, slower): their pages stay the file's, which the kernel can drop and re-read (a model
    /// larger than the memory available).</para>
    /// </summary>
    public static Matrix Create(GgmlType type, byte* data, int rows, int cols, string tensorName, bool sparseUse = false, bool dataIsMapped = false, KernelPath kernels = KernelPath.Auto, bool sparseInPlace = false)
    {
        var (bs, _) = GgmlTypeInfo.Layout(type);
        var path = KernelPaths.Resolve(kernels);
        if (bs > 1 && cols % bs != 0)
            throw new NotSupportedException($"tensor '{tensorName}' has type {GgmlTypeInfo.Name(type)} but {cols} columns, not a multiple of its block size {bs}");
        return type switch
        {
            GgmlType.F32 => new F32Matrix((float*)data, rows, cols),
            GgmlType.F16 => new HalfMatrix((ushort*)data, rows, cols, bf16: false),
            GgmlType.BF16 => new HalfMatrix((ushort*)data, rows, cols, bf16: true),
            _ when Block32Matrix.Handles(type) => new Block32Matrix(type, data, rows, cols, lazy: sparseUse, releaseMappedSource: dataIsMapped, kernels: path),
            _ when KQuantMatrix.Handles(type) && path != KernelPath.Scalar && !(sparseUse && sparseInPlace) =>
                new InterleavedKQuantMatrix(type, data, rows, cols, releaseMappedSource: dataIsMapped, kernels: path, lazy: sparseUse),
            _ when KQuantMatrix.Handles(type) => new KQuantMatrix(type, data, rows, cols),
            _ => throw new NotSupportedException(
                $"tensor '{tensorName}' has type {GgmlTypeInfo.Name(type)}, which this build cannot compute with (supported: {string.Join(", ", SupportedTypes)})"),
        };
    }

    /// <summary>Writes rows [0, rows) of a tensor as f32 into <paramref name="dst"/> (rows·cols floats), without building a matrix.</summary>
    public static void Dequantize(GgmlType type, byte* data, long rows, int cols, Span<float> dst, string tensorName)
    {
        if (dst.Length < rows * cols) throw new ArgumentException("destination too small", nameof(dst));
        fixed (float* y = dst)
        {
            switch (type)
            {
                case GgmlType.F32: Buffer.MemoryCopy(data, y, rows * cols * 4, rows * cols * 4); break;
                case GgmlType.F16:
                case GgmlType.BF16:
                    Kernels.FloatDot.ConvertRow((ushort*)data, y, checked((int)(rows * cols)), type == GgmlType.BF16); break;
                default:
                    if (!BlockDequantizer.IsSupported(type))
                        throw new NotSupportedException($"tensor '{tensorName}' has type {GgmlTypeInfo.Name(type)}, which this build cannot read");
                    long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
                    if (rowBytes < 0) throw new NotSupportedException($"tensor '{tensorName}': {cols} columns is not a whole number of {GgmlTypeInfo.Name(type)} blocks");
                    for (long r = 0; r < rows; r++) BlockDequantizer.Row(type, data + r * rowBytes, y + r * cols, cols);
                    break;
            }
        }
    }

    public static IReadOnlyList<GgmlType> SupportedTypes { get; } =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];
}
