namespace QwenSharp.Tensors.Quantization;

/// <summary>
/// Quantizes a float weight matrix (F32/F16/BF16, e.g. Hugging Face bf16 safetensors) at load time into a
/// computable quantized matrix: rows are quantized in parallel with llama.cpp's reference quantizers, then
/// repacked (32-block types) or kept as GGUF blocks in native memory (K-types).
/// </summary>
public static unsafe class OnTheFlyQuantizer
{
    /// <summary>The type llama.cpp's quantizer falls back to when rows are not a multiple of the block size.</summary>
    public static GgmlType Fallback(GgmlType target, int cols)
    {
        if (cols % GgmlTypeInfo.Layout(target).BlockSize == 0) return target;
        var fb = target switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => target,
        };
        return cols % GgmlTypeInfo.Layout(fb).BlockSize == 0 ? fb : GgmlType.F16;
    }

    public static Matrix Quantize(GgmlType srcType, byte* src, int rows, int cols, GgmlType target, string tensorName, KernelPath kernels = KernelPath.Auto)
    {
        if (!BlockQuantizer.IsSupported(target))
            throw new NotSupportedException($"cannot quantize to {GgmlTypeInfo.Name(target)} (supported: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
        var type = Fallback(target, cols);
        if (type == GgmlType.F16) return MatrixFactory.Create(srcType, src, rows, cols, tensorName, kernels: kernels);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        long srcRowBytes = (long)cols * (srcType == GgmlType.F32 ? 4 : 2);
        byte* dst = (byte*)NativeMemoryHelper.AllocWeights(rowBytes * rows);
        try
        {
            Parallel.For(0, (rows + 63) / 64, () => new float[cols], (chunk, _, buf) =>
            {
                fixed (float* f = buf)
                    for (int r = chunk * 64; r < Math.Min(rows, chunk * 64 + 64); r++)
                    {
                        MatrixFactory.Dequantize(srcType, src + r * srcRowBytes, 1, cols, buf, tensorName);
                        BlockQuantizer.Row(type, f, dst + r * rowBytes, cols);
                    }
                return buf;
            }, _ => { });
            var path = KernelPaths.Resolve(kernels);
            if (KQuantMatrix.Handles(type) && path != KernelPath.Scalar)
                return new InterleavedKQuantMatrix(type, dst, rows, cols, kernels: path); // copies; dst is freed below
            if (KQuantMatrix.Handles(type))
            {
                var m = new KQuantMatrix(type, dst, rows, cols, ownsMemory: true);
                dst = null;
                return m;
            }
            return MatrixFactory.Create(type, dst, rows, cols, tensorName, kernels: path);
        }
        finally
        {
            if (dst != null) NativeMemoryHelper.FreeWeights(dst);
        }
    }
}
