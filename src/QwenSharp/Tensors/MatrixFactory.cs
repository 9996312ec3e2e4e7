namespace QwenSharp.Tensors;

/// <summary>Makes the <see cref="Matrix"/> view for a weight tensor of a given storage type.</summary>
public static unsafe class MatrixFactory
{
    /// <summary>
    /// A matrix over <paramref name="data"/> ([rows, cols] row-major in <paramref name="type"/>).
    /// Throws <see cref="NotSupportedException"/> naming the tensor and type when the type has no kernel.
    /// </summary>
    public static Matrix Create(GgmlType type, byte* data, int rows, int cols, string tensorName)
    {
        return type switch
        {
            GgmlType.F32 => new F32Matrix((float*)data, rows, cols),
            GgmlType.F16 => new HalfMatrix((ushort*)data, rows, cols, bf16: false),
            GgmlType.BF16 => new HalfMatrix((ushort*)data, rows, cols, bf16: true),
            _ => throw new NotSupportedException(
                $"tensor '{tensorName}' has type {GgmlTypeInfo.Name(type)}, which this build cannot compute with (supported: {string.Join(", ", SupportedTypes)})"),
        };
    }

    public static IReadOnlyList<GgmlType> SupportedTypes { get; } = [GgmlType.F32, GgmlType.F16, GgmlType.BF16];
}
