using QwenSharp.Engine;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Training;
using static QwenSharp.Tests.Training.OpGradientTests;

namespace QwenSharp.Tests.Training;

/// <summary>
/// The whole training graph of the tiny fixture models (Qwen3 with q/k norms; Qwen2 with q/k/v biases)
/// against finite differences: the gradients of LoRA pairs on every linear layer of every decoder layer,
/// and the gradient reaching the input embeddings, on a batch of two packed sequences.
/// </summary>
public unsafe class ModelGradientTests
{
    // The finite-difference loops run hundreds of tiny forward passes: inline on one thread. The threaded
    // paths are compared against it in CheckpointingGivesTheSameGradients.
    static readonly WorkerPool Pool = new(1);

    internal static string ModelDir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    static (TrainingBatch Batch, int Labels) MakeBatch(int vocab, int seed)
    {
        var r = new Random(seed);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => r.Next(vocab)).ToArray();
        int[] Labels(int[] t) => t.Select((_, i) => i + 1 < t.Length && r.NextDouble() < 0.7 ? t[i + 1] : -1).ToArray();
        var a = Tokens(9);
        var b = Tokens(6);
        var batch = TrainingBatch.FromSequences([(a, Labels(a)), (b, Labels(b))]);
        return (batch, batch.LabelCount);
    }

    static LoraParameters AllTargets(QwenModel model, int seed)
    {
        var config = new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = LoraConfig.SupportedTargets };
        var lora = LoraParameters.Create(model, config, seed);
        var r = new Random(seed + 1);
        foreach (var p in lora.Parameters)
            for (int i = 0; i < p.Weights.B.Length; i++) p.Weights.B[i] = (float)(r.NextDouble() * 2 - 1) * 0.05f; // nonzero B: A gets gradients too
        return lora;
    }

    /// <summary>Indices of the largest |g| entries and a few random ones.</summary>
    static int[] Pick(float[] g, int largest, int random, Random r) =>
        Enumerable.Range(0, g.Length).OrderByDescending(i => Math.Abs(g[i])).Take(largest)
            .Concat(Enumerable.Range(0, random).Select(_ => r.Next(g.Length))).Distinct().ToArray();

    static void Check(string what, float[] x, float[] g, int[] indices, Func<double> f, float eps)
    {
        foreach (int i in indices)
        {
            float keep = x[i];
            x[i] = keep + eps; double up = f();
            x[i] = keep - eps; double down = f();
            x[i] = keep;
            double fd = (up - down) / (2.0 * eps);
            double tol = 1e-3 + 3e-2 * Math.Abs(fd);
            Assert.True(Math.Abs(fd - g[i]) <= tol, $"{what}[{i}]: analytic {g[i]:G6}, finite difference {fd:G6}");
        }
    }

    [Theory]
    [InlineData("qwen3-tiny", null)]
    [InlineData("qwen2-tiny", null)]
    [InlineData("qwen3-tiny", GgmlType.Q8_0)]   // QLoRA-style: the frozen base stays quantized
    [InlineData("qwen2-tiny", GgmlType.Q4_K)]
    public void LoraGradientsMatchFiniteDifferences(string name, GgmlType? quantize)
    {
        using var model = QwenModel.Load(ModelDir(name), new ModelLoadOptions { Quantize = quantize });
        Assert.Equal(quantize ?? GgmlType.BF16, model.Layers[0].SelfAttn.QProj.Weight.Type);
        var lora = AllTargets(model, 11);
        var (batch, labels) = MakeBatch(model.Config.VocabSize, 3);
        using var bp = new LoraBackprop(model, lora, Pool);
        lora.ZeroGrad();
        double loss = bp.ForwardBackward(batch, 1f / labels);
        Assert.True(loss / labels is > 1 and < 20, $"mean loss {loss / labels}");
        double F() => bp.Loss(batch) / labels;
        var r = new Random(5);
        foreach (var p in lora.Parameters)
        {
            Assert.Contains(p.GradB, v => v != 0);
            Assert.Contains(p.GradA, v => v != 0);
            Check(p.Weights.Module + ".lora_B", p.Weights.B, p.GradB, Pick(p.GradB, 2, 1, r), F, 1e-2f);
            Check(p.Weights.Module + ".lora_A", p.Weights.A, p.GradA, Pick(p.GradA, 2, 1, r), F, 1e-2f);
        }
    }

    [Fact]
    public void EmbeddingGradientMatchesFiniteDifferences()
    {
        using var model = QwenModel.Load(ModelDir("qwen3-tiny"));
        var lora = AllTargets(model, 12);
        var (batch, labels) = MakeBatch(model.Config.VocabSize, 4);
        // A private f32 copy of the embedding table feeds the input only (the tied LM head keeps the model's).
        int vocab = model.Config.VocabSize, hidden = model.Config.HiddenSize;
        var table = GC.AllocateArray<float>(vocab * hidden, pinned: true);
        for (int v = 0; v < vocab; v++) model.EmbedTokens.DequantizeRow(v, table.AsSpan(v * hidden, hidden));
        using var bp = new LoraBackprop(model, lora, Pool) { Embedding = new F32Matrix(P(table), vocab, hidden), ComputeInputGradient = true };
        lora.ZeroGrad();
        bp.ForwardBackward(batch, 1f / labels);
        // Embedding backward: the gradient of a table row is the sum of the input gradients of the tokens that read it.
        var g = new float[table.Length];
        float* dx = bp.InputGradient;
        for (int i = 0; i < batch.Count; i++)
            for (int j = 0; j < hidden; j++) g[batch.Tokens[i] * hidden + j] += dx[(long)i * hidden + j];
        var rows = batch.Tokens.Distinct().Take(3).ToArray();
        var indices = rows.SelectMany(t => new[] { t * hidden, t * hidden + 7, t * hidden + hidden - 1 }).ToArray();
        Check("embed_tokens", table, g, indices, () => bp.Loss(batch) / labels, 1e-2f);
        Assert.Contains(g, v => v != 0);
    }

    [Fact]
    public void CheckpointingGivesTheSameGradients()
    {
        using var model = QwenModel.Load(ModelDir("qwen2-tiny"));
        var (batch, labels) = MakeBatch(model.Config.VocabSize, 8);
        float[][] Grads(bool checkpointing)
        {
            var lora = AllTargets(model, 21);
            using var bp = new LoraBackprop(model, lora, checkpointing ? TrainingTestPool.Instance : Pool, checkpointing);
            lora.ZeroGrad();
            bp.ForwardBackward(batch, 1f / labels);
            return lora.Parameters.SelectMany(p => new[] { p.GradA.ToArray(), p.GradB.ToArray() }).ToArray();
        }
        var a = Grads(true);
        var b = Grads(false);
        // Same arithmetic (two threads with checkpointing, one without); only the order in which worker threads add partial sums may differ.
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < a[i].Length; j++) Assert.True(Math.Abs(a[i][j] - b[i][j]) <= 1e-5f * (1 + Math.Abs(a[i][j])), $"tensor {i}[{j}]: {a[i][j]} vs {b[i][j]}");
    }
}
