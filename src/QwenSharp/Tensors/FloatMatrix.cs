using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Tensors;

/// <summary>An f32 weight matrix, row-major, over memory it does not own (a mapped file or native buffer).</summary>
public sealed unsafe class F32Matrix(float* data, int rows, int cols) : Matrix(rows, cols)
{
    public float* Data { get; } = data;
    public override GgmlType Type => GgmlType.F32;
    public override long ByteSize => (long)Rows * Cols * 4;

    public override void DequantizeRow(int row, Span<float> dst) =>
        new ReadOnlySpan<float>(Data + (long)row * Cols, Cols).CopyTo(dst);

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        int k = Cols;
        float* sums = stackalloc float[4];
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            float* w = Data + (long)r * k;
            for (int i = 0; i < n; i++)
            {
                FloatDot.Dot4(w, k, x.F32 + (long)i * x.Stride, k, sums);
                float* yi = y + (long)i * ldy + r;
                yi[0] = sums[0]; yi[1] = sums[1]; yi[2] = sums[2]; yi[3] = sums[3];
            }
        }
        for (; r < r1; r++)
            for (int i = 0; i < n; i++)
                y[(long)i * ldy + r] = FloatDot.Dot(Data + (long)r * k, x.F32 + (long)i * x.Stride, k);
    }
}

/// <summary>A bf16 or f16 weight matrix, row-major, computed directly (converted to f32 in registers).</summary>
public sealed unsafe class HalfMatrix(ushort* data, int rows, int cols, bool bf16) : Matrix(rows, cols)
{
    public ushort* Data { get; } = data;
    public bool IsBFloat16 { get; } = bf16;
    public override GgmlType Type => IsBFloat16 ? GgmlType.BF16 : GgmlType.F16;
    public override long ByteSize => (long)Rows * Cols * 2;

    public override void DequantizeRow(int row, Span<float> dst)
    {
        fixed (float* d = dst) FloatDot.ConvertRow(Data + (long)row * Cols, d, Cols, IsBFloat16);
    }

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        int k = Cols;
        float* sums = stackalloc float[4];
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            ushort* w = Data + (long)r * k;
            for (int i = 0; i < n; i++)
            {
                FloatDot.Dot4Half(w, k, x.F32 + (long)i * x.Stride, k, sums, IsBFloat16);
                float* yi = y + (long)i * ldy + r;
                yi[0] = sums[0]; yi[1] = sums[1]; yi[2] = sums[2]; yi[3] = sums[3];
            }
        }
        for (; r < r1; r++)
            for (int i = 0; i < n; i++)
                y[(long)i * ldy + r] = FloatDot.DotHalf(Data + (long)r * k, x.F32 + (long)i * x.Stride, k, IsBFloat16);
    }
}
