using System.Diagnostics;
using QwenSharp.Engine;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Bench;

/// <summary>
/// One matmul kernel alone, one thread, process CPU time: random weights of a type and shape, a batch of n inputs
/// (GOP/s, the prefill GEMM) and one input with the matrix hot in cache (the decode compute cost).
/// </summary>
public sealed class KernelBench : IBenchmark
{
    public string Name => "kernels";
    public string Description => "Matmul kernels alone, 1 thread, CPU time: [--types Q8_0,Q5_0,Q4_K,Q6_K] [--shape 3072x1024] [--n 64] [--sparse]";

    static double Cpu() => ThreadCpu.Ms(); // one-thread pool: the caller does all the work

    public unsafe int Run(string[] args)
    {
        var a = new BenchArgs(args);
        var types = a.Get("types", "Q8_0,Q4_0,Q5_0,Q4_K,Q5_K,Q6_K").Split(',').Select(Enum.Parse<GgmlType>).ToArray();
        var shape = a.Get("shape", "3072x1024").Split('x').Select(int.Parse).ToArray();
        int rows = shape[0], cols = shape[1], n = a.GetInt("n", 64);
        bool sparse = a.Has("sparse");
        var rng = new Random(1);
        var w = new float[(long)rows * cols];
        for (long i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5) * 0.05f;
        var x = new float[(long)n * cols];
        for (long i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() - 0.5);
        var y = new float[(long)n * rows];
        using var pool = new WorkerPool(1);
        using var mm = new MatMul(pool);
        Console.WriteLine($"| type | shape | kernel | batch {n}: GOP/s | 1 input (hot): µs | 1 input: GB/s of weights |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var type in types)
        {
            if (cols % GgmlTypeInfo.Layout(type).BlockSize != 0)
            {
                Console.WriteLine($"| {type} | {rows}x{cols} | (rows of {cols} are not whole blocks of {GgmlTypeInfo.Layout(type).BlockSize}) | | | |");
                continue;
            }
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            var q = new byte[rowBytes * rows];
            fixed (float* wp = w) fixed (byte* qp = q) fixed (float* xp = x) fixed (float* yp = y)
            {
                for (int r = 0; r < rows; r++) BlockQuantizer.Row(type, wp + (long)r * cols, qp + r * rowBytes, cols);
                var m = MatrixFactory.Create(type, qp, rows, cols, "bench", sparse);
                try
                {
                    mm.Run(m, xp, cols, n, yp, rows);
                    double best = double.MaxValue;
                    for (int k = 0; k < 5; k++)
                    {
                        double c0 = Cpu();
                        mm.Run(m, xp, cols, n, yp, rows);
                        best = Math.Min(best, Cpu() - c0);
                    }
                    int reps = Math.Max(20, (int)(2e8 / q.Length));
                    double best1 = double.MaxValue;
                    for (int k = 0; k < 5; k++)
                    {
                        double c0 = Cpu();
                        for (int i = 0; i < reps; i++) mm.Run(m, xp, cols, 1, yp, rows);
                        best1 = Math.Min(best1, (Cpu() - c0) / reps);
                    }
                    Console.WriteLine($"| {type} | {rows}x{cols} | {m.GetType().Name} | {2.0 * rows * cols * n / (best / 1000) / 1e9:F1} | {best1 * 1000:F1} | {q.Length / (best1 / 1000) / 1e9:F1} |");
                }
                finally { (m as IDisposable)?.Dispose(); }
            }
        }
        return 0;
    }
}
