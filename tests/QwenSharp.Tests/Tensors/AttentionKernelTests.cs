using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Tests.Tensors;

/// <summary>The block attention kernels (scores of a head group against a block of cached keys; weighted sums of
/// cached values) against a double-precision loop over the same stored rows, for every KV storage type.</summary>
public unsafe class AttentionKernelTests
{
    public static TheoryData<GgmlType, int, int, int> Cases()
    {
        var data = new TheoryData<GgmlType, int, int, int>();
        foreach (var type in new[] { GgmlType.F16, GgmlType.F32, GgmlType.Q8_0 })
            foreach (var (d, group) in new[] { (64, 7), (128, 2), (128, 1), (128, 4), (96, 3), (32, 5) })
                foreach (int count in new[] { 1, 3, 4, 5, 16 })
                    data.Add(type, d, group, count);
        // Head sizes that are not a multiple of 8 (or 32) take the row-by-row path.
        data.Add(GgmlType.F16, 40, 2, 16);
        data.Add(GgmlType.F32, 12, 3, 7);
        return data;
    }

    /// <summary>Rows of d values stored as <paramref name="type"/>, and the values they hold after storing.</summary>
    static (byte[] Stored, double[] Values) Rows(Random r, GgmlType type, int count, int d, double scale)
    {
        int rb = AttentionKernels.RowBytes(type, d);
        var stored = new byte[count * rb];
        var values = new double[count * d];
        var src = new float[d];
        var row = new float[d];
        fixed (byte* s = stored) fixed (float* f = src) fixed (float* back = row)
            for (int j = 0; j < count; j++)
            {
                for (int i = 0; i < d; i++) src[i] = (float)((r.NextDouble() * 2 - 1) * scale);
                AttentionKernels.Store(f, s + j * rb, d, type);
                float* v = AttentionKernels.RowAsFloat(s, j, d, type, back);
                for (int i = 0; i < d; i++) values[j * d + i] = v[i];
            }
        return (stored, values);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BlockScoresEqualTheDotProductsOfTheStoredKeys(GgmlType type, int d, int group, int count)
    {
        var r = new Random(d * 100 + group * 10 + count);
        var (keys, k) = Rows(r, type, count, d, 2.0);
        var q = Enumerable.Range(0, group * d).Select(_ => (float)(r.NextDouble() * 2 - 1) * 3).ToArray();
        const int stride = 21;
        var s = new float[group * stride];
        Array.Fill(s, float.NaN);
        var scratch = new float[d];
        float scale = 1f / MathF.Sqrt(d);
        fixed (byte* pk = keys) fixed (float* pq = q, ps = s, pr = scratch)
            AttentionKernels.BlockScores(pk, count, d, type, pq, group, scale, ps, stride, pr);
        for (int h = 0; h < group; h++)
            for (int j = 0; j < stride; j++)
            {
                if (j >= count)
                {
                    Assert.True(float.IsNaN(s[h * stride + j]), $"score {j} of head {h} written past the block's {count} keys");
                    continue;
                }
                double expected = 0, magnitude = 0;
                for (int i = 0; i < d; i++)
                {
                    expected += (double)q[h * d + i] * k[j * d + i];
                    magnitude += Math.Abs((double)q[h * d + i] * k[j * d + i]);
                }
                Assert.Equal(expected * scale, s[h * stride + j], 2e-6 * magnitude * scale + 1e-30);
            }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BlockAccumulateAddsTheWeightedStoredValues(GgmlType type, int d, int group, int count)
    {
        var r = new Random(d * 100 + group * 10 + count + 7);
        var (values, v) = Rows(r, type, count, d, 1.5);
        const int stride = 19;
        var p = Enumerable.Range(0, group * stride).Select(_ => (float)r.NextDouble()).ToArray();
        var output = Enumerable.Range(0, group * d).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
        var before = output.ToArray();
        var scratch = new float[d];
        fixed (byte* pv = values) fixed (float* pp = p, po = output, pr = scratch)
            AttentionKernels.BlockAccumulate(pv, count, d, type, pp, stride, group, po, pr);
        for (int h = 0; h < group; h++)
            for (int i = 0; i < d; i++)
            {
                double expected = before[h * d + i], magnitude = Math.Abs(expected);
                for (int j = 0; j < count; j++)
                {
                    expected += (double)p[h * stride + j] * v[j * d + i];
                    magnitude += Math.Abs((double)p[h * stride + j] * v[j * d + i]);
                }
                Assert.Equal(expected, output[h * d + i], 2e-6 * magnitude + 1e-30);
            }
    }

    [Fact]
    public void HalfKeysKeepTheirSignZeroAndSubnormalValues()
    {
        // Exact products: q = 1 in one lane, so each score is one stored key element.
        float[] special = [0f, -0f, 6.1e-5f, -6.1e-5f, 5.96e-8f, -5.96e-8f, 3.0e-6f, -65504f, 65504f, 1f, -1f, 0.333f];
        const int d = 8;
        var keys = new ushort[special.Length * d];
        for (int j = 0; j < special.Length; j++) keys[j * d + 3] = Numerics.FloatToHalf(special[j]);
        var q = new float[d];
        q[3] = 1;
        var s = new float[special.Length];
        var scratch = new float[d];
        fixed (ushort* pk = keys) fixed (float* pq = q, ps = s, pr = scratch)
            AttentionKernels.BlockScores((byte*)pk, special.Length, d, GgmlType.F16, pq, 1, 1f, ps, special.Length, pr);
        for (int j = 0; j < special.Length; j++)
            Assert.Equal(Numerics.HalfToFloat(keys[j * d + 3]), s[j]);
    }
}
