using QwenSharp.Engine;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tests.Tensors;

/// <summary>
/// <see cref="MatMul.RunShared"/> (q/k/v and gate/up as one dispatch) gives the same bits as one <see cref="MatMul.Run"/>
/// per matrix, whether the matrices share an input form (quantized once) or not.
/// </summary>
public unsafe class SharedMatMulTests
{
    sealed class Pinned(byte[] data) : IDisposable
    {
        System.Runtime.InteropServices.GCHandle _h = System.Runtime.InteropServices.GCHandle.Alloc(data, System.Runtime.InteropServices.GCHandleType.Pinned);
        public byte* Pointer => (byte*)_h.AddrOfPinnedObject();
        public void Dispose() => _h.Free();
    }

    static Matrix Make(GgmlType type, int rows, int cols, int seed, List<IDisposable> owned)
    {
        var r = new Random(seed);
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(r.NextDouble() * 2 - 1) * 0.1f;
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var q = new byte[rows * rowBytes];
        fixed (float* wp = w) fixed (byte* qp = q)
        {
            if (type == GgmlType.F32) Buffer.MemoryCopy(wp, qp, q.Length, q.Length);
            else for (int i = 0; i < rows; i++) BlockQuantizer.Row(type, wp + i * cols, qp + i * rowBytes, cols);
        }
        var pin = new Pinned(q); // an F32 matrix reads the array where it lies
        owned.Add(pin);
        var m = MatrixFactory.Create(type, pin.Pointer, rows, cols, "w" + seed);
        if (m is IDisposable d) owned.Add(d);
        return m;
    }

    [Theory]
    [InlineData(GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, 1)]   // one input form (Q8_K), decode
    [InlineData(GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, 5)]   // a prefill batch
    [InlineData(GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.F32, 3)]    // three input forms
    [InlineData(GgmlType.Q5_0, GgmlType.Q8_0, null, 1)]            // two products (gate/up), one input form
    public void SharedRunEqualsOneRunPerMatrix(GgmlType t0, GgmlType t1, GgmlType? t2, int n)
    {
        const int cols = 512;
        var owned = new List<IDisposable>();
        try
        {
            var ws = new List<Matrix> { Make(t0, 40, cols, 1, owned), Make(t1, 24, cols, 2, owned) };
            if (t2 is { } t) ws.Add(Make(t, 17, cols, 3, owned));
            var x = new float[n * cols];
            var r = new Random(4);
            for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
            var separate = ws.Select(w => new float[n * w.Rows]).ToList();
            var shared = ws.Select(w => new float[n * w.Rows + 1]).ToList(); // one spare float: nothing is written past an output
            foreach (var s in shared) s[^1] = 12345f;
            using var pool = new WorkerPool(2);
            using var mm = new MatMul(pool);
            fixed (float* xp = x)
            {
                // A three-product call first, so a later two-product call must not reuse its third product.
                fixed (float* y0 = shared[0]) fixed (float* y1 = shared[1]) fixed (float* y2 = shared.Count > 2 ? shared[2] : null)
                    mm.RunShared(xp, cols, n, ws[0], y0, ws[0].Rows, ws[1], y1, ws[1].Rows, ws.Count > 2 ? ws[2] : null, y2, ws.Count > 2 ? ws[2].Rows : 0);
                for (int j = 0; j < ws.Count; j++)
                    fixed (float* y = separate[j]) mm.Run(ws[j], xp, cols, n, y, ws[j].Rows);
            }
            for (int j = 0; j < ws.Count; j++)
            {
                Assert.Equal(separate[j], shared[j].AsSpan(0, n * ws[j].Rows).ToArray());
                Assert.Equal(12345f, shared[j][^1]);
                Assert.Contains(separate[j], v => v != 0);
            }
        }
        finally { foreach (var d in Enumerable.Reverse(owned)) d.Dispose(); }
    }
}
