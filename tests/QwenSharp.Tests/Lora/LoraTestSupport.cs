using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Formats;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Lora;

internal static class LoraTestSupport
{
    public static string ModelDir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    /// <summary>A random adapter with nonzero A and B on the given targets of every layer.</summary>
    public static LoraAdapter RandomAdapter(ModelConfig c, string name, int seed, int rank = 4, double alpha = 8, bool rslora = false, params string[] targets)
    {
        if (targets.Length == 0) targets = LoraConfig.SupportedTargets;
        var config = new LoraConfig { R = rank, LoraAlpha = alpha, TargetModules = targets, UseRslora = rslora, BaseModelNameOrPath = "tiny" };
        var r = new Random(seed);
        var modules = new List<LoraWeights>();
        foreach (var t in LoraTargets.All(c).Where(t => config.Targets(t.Module)))
        {
            var w = new LoraWeights(t.Module, rank, t.InFeatures, t.OutFeatures, config.ScaleFor(t.Module, rank));
            for (int i = 0; i < w.A.Length; i++) w.A[i] = (float)(r.NextDouble() * 2 - 1) * 0.1f;
            for (int i = 0; i < w.B.Length; i++) w.B[i] = (float)(r.NextDouble() * 2 - 1) * 0.1f;
            modules.Add(w);
        }
        return new LoraAdapter(name, config, modules);
    }

    public static readonly int[] Prompt = [12, 300, 45, 7, 99, 250, 3, 480, 17, 64, 128, 5];

    /// <summary>All-position logits of one sequence (optionally with an adapter slot).</summary>
    public static float[] Logits(QwenModel model, int[] tokens, int slot = -1)
    {
        using var cache = model.CreateKvCache(256, KvCacheType.F32);
        using var ctx = model.CreateContext(WorkerPool.Shared);
        using var seq = cache.CreateSequence();
        seq.AdapterSlot = slot;
        var batch = new ForwardBatch();
        batch.AddSequence(seq, tokens, logitsForAll: true);
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.Forward(ctx, batch, logits);
        return logits;
    }

    public static double MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    /// <summary>
    /// The merged model written by the test itself (independently of LoraMerge): every tensor of the base folder
    /// as f32, adapted weights replaced by W + Σ_k scale·B[:, k]·A[k, :] computed in double.
    /// </summary>
    public static unsafe string MergeIndependently(string baseDir, LoraAdapter adapter, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var w = new SafetensorsWriter();
        using (var f = new SafetensorsFile(Path.Combine(baseDir, "model.safetensors")))
        {
            foreach (var t in f.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                var values = new float[t.Elements];
                var p = (ushort*)f.DataPointer(t);
                Assert.Equal("BF16", t.DType);
                for (long i = 0; i < values.Length; i++) values[i] = Numerics.BFloat16ToFloat(p[i]);
                string module = t.Name.EndsWith(".weight") ? t.Name[..^".weight".Length] : "";
                if (adapter.Modules.TryGetValue(module, out var lw))
                {
                    int rows = (int)t.Shape[0], cols = (int)t.Shape[1];
                    for (int o = 0; o < rows; o++)
                        for (int i = 0; i < cols; i++)
                        {
                            double d = 0;
                            for (int k = 0; k < lw.Rank; k++) d += (double)lw.B[o * lw.Rank + k] * lw.A[k * cols + i];
                            values[o * cols + i] = (float)(values[o * cols + i] + lw.Scale * d);
                        }
                }
                w.AddF32(t.Name, values, t.Shape);
            }
        }
        w.Write(Path.Combine(outDir, "model.safetensors"));
        foreach (var file in Directory.GetFiles(baseDir, "*.json")) File.Copy(file, Path.Combine(outDir, Path.GetFileName(file)), true);
        return outDir;
    }

    public static JsonObject ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();
}
