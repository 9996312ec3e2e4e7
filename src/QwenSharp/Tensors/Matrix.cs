namespace QwenSharp.Tensors;

/// <summary>
/// A weight matrix W of shape [Rows = out_features, Cols = in_features] in some storage format.
/// Matrices are typed views (format, shape, memory): usually over a memory-mapped file, or over native
/// memory when weights were quantized or repacked at load. A matmul computes y = x · Wᵀ for a batch of
/// input rows; the driver (<see cref="MatMul"/>) converts the input once per call into the form
/// <see cref="InputFormat"/> asks for, then splits the output rows over the worker pool.
/// </summary>
public abstract unsafe class Matrix
{
    protected Matrix(int rows, int cols)
    {
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Output features (rows of W).</summary>
    public int Rows { get; }

    /// <summary>Input features (columns of W).</summary>
    public int Cols { get; }

    /// <summary>The storage type (GGUF numbering).</summary>
    public abstract GgmlType Type { get; }

    /// <summary>Bytes of weight data read by one full product (for bandwidth accounting).</summary>
    public abstract long ByteSize { get; }

    /// <summary>The form the input activations must be converted to before <see cref="Compute"/>.</summary>
    public virtual InputFormat InputFormat => InputFormat.F32;

    /// <summary>Bytes per input row in the quantized input form (0 when <see cref="InputFormat"/> is F32).</summary>
    public virtual int QuantizedInputRowBytes => 0;

    /// <summary>Converts input row <paramref name="x"/> (Cols floats) into the quantized input form at <paramref name="dst"/>.</summary>
    public virtual void QuantizeInputRow(float* x, byte* dst) =>
        throw new NotSupportedException($"{GetType().Name} takes f32 input");

    /// <summary>
    /// True when the matrix holds its weights in native memory it allocated (repacked or quantized at load);
    /// it is then <see cref="IDisposable"/> and its owner disposes it.
    /// </summary>
    public virtual bool OwnsMemory => false;

    /// <summary>
    /// Makes the weights ready for <see cref="Compute"/> (e.g. a lazy repack on first use). Called by the matmul
    /// driver on the calling thread before it dispatches; cheap when there is nothing to do.
    /// </summary>
    public virtual void Prepare() { }

    /// <summary>True while <see cref="Prepare"/> still has work to do (a lazy repack not done yet).</summary>
    public virtual bool NeedsPrepare => false;

    /// <summary>Output rows handed out together (a multiple of any row interleaving of the layout).</summary>
    public virtual int RowGranularity => 4;

    /// <summary>Writes row <paramref name="row"/> of W as f32 into <paramref name="dst"/> (length Cols).</summary>
    public abstract void DequantizeRow(int row, Span<float> dst);

    /// <summary>
    /// y[i * ldy + r] = Σ_k W[r, k] · x_i[k] for output rows r in [r0, r1) and inputs i in [0, n).
    /// r0 and r1 are multiples of <see cref="RowGranularity"/> (r1 may also be Rows).
    /// </summary>
    public abstract void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1);
}

/// <summary>The form a matrix wants its input activations in.</summary>
public enum InputFormat
{
    /// <summary>f32 rows as they are.</summary>
    F32,
    /// <summary>int8 blocks of 32 with an f32 scale per block (and per-block sums), as ggml's Q8_0/Q8_1.</summary>
    Q8Blocks32,
    /// <summary>int8 blocks of 256 with an f32 scale and 16-element sums, as ggml's Q8_K.</summary>
    Q8Blocks256,
}

/// <summary>The input of one matmul: f32 rows, plus their quantized form when the matrix asked for one.</summary>
public readonly unsafe struct MatMulInput
{
    /// <summary>f32 input rows [n, Cols] with row stride <see cref="Stride"/> floats.</summary>
    public readonly float* F32;
    public readonly int Stride;
    /// <summary>Quantized input (layout defined by the matrix type), or null.</summary>
    public readonly byte* Quantized;
    /// <summary>Bytes per quantized row.</summary>
    public readonly int QuantizedStride;

    public MatMulInput(float* f32, int stride, byte* quantized = null, int quantizedStride = 0)
    {
        F32 = f32;
        Stride = stride;
        Quantized = quantized;
        QuantizedStride = quantizedStride;
    }
}
