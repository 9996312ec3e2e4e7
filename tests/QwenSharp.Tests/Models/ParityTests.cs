using QwenSharp.Models;
using QwenSharp.Tensors;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>
/// Logits parity with references nobody here wrote: the NumPy port of transformers' modeling code
/// (safetensors, bf16 weights) and llama.cpp (GGUF). The default run uses the fixtures copied into
/// tests/fixtures (GGUF files written from the safetensors by our own exporter, with the same numbers
/// as the shared F32/F16 files); the shared group runs the real fixture GGUF files.
/// </summary>
public class ParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> LocalModels => new(
        Directory.GetDirectories(Path.Combine(TestPaths.Fixtures, "models")).Select(Path.GetFileName).Order()!);

    static string LocalDir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    [Theory]
    [MemberData(nameof(LocalModels))]
    public void SafetensorsMatchNumpyReference(string name)
    {
        using var model = QwenModel.Load(LocalDir(name));
        foreach (var s in Reference.Logits(Path.Combine(LocalDir(name), "reference", "logits-numpy.json")))
        {
            var (maxAbs, minCos, agree) = Reference.Compare(Reference.Run(model, s.Tokens), s.Logits);
            output.WriteLine($"{name} safetensors vs numpy, {s.Name}: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {agree}/{s.Tokens.Length}");
            Assert.True(maxAbs <= 1e-3, $"{name}/{s.Name}: max abs diff {maxAbs}");
        }
    }

    [Theory]
    [MemberData(nameof(LocalModels))]
    public void ExportedGgufMatchesLlamaCpp(string name)
    {
        var dir = TestPaths.NewTempDir();
        foreach (var (type, tol, refName) in new[] { (GgmlType.F32, 1e-3, "F32"), (GgmlType.F16, 2e-2, "F16") })
        {
            string gguf = Path.Combine(dir, $"{name}-{refName}.gguf");
            ExportGguf(LocalDir(name), gguf, type);
            using var model = QwenModel.Load(gguf);
            Assert.Equal(type, model.Layers[0].SelfAttn.QProj.Weight.Type);
            foreach (var s in Reference.Logits(Path.Combine(LocalDir(name), "reference", $"logits-llamacpp-{refName}.json")))
            {
                var (maxAbs, minCos, agree) = Reference.Compare(Reference.Run(model, s.Tokens), s.Logits);
                output.WriteLine($"{name} {refName} GGUF vs llama.cpp, {s.Name}: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {agree}/{s.Tokens.Length}");
                Assert.True(maxAbs <= tol, $"{name}/{refName}/{s.Name}: max abs diff {maxAbs} > {tol}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(LocalModels))]
    public void GreedyContinuationMatchesLlamaCpp(string name)
    {
        using var model = QwenModel.Load(LocalDir(name));
        foreach (var (seq, prompt, generated) in Reference.Greedy(Path.Combine(LocalDir(name), "reference", "greedy-llamacpp-F32.json")))
            Assert.True(generated.SequenceEqual(Reference.GreedyContinuation(model, prompt, generated.Length)), $"{name}/{seq}: greedy continuation differs");
    }

    internal static void ExportGguf(string hfDir, string path, GgmlType type)
    {
        var cfg = ModelConfig.FromConfigJson(Path.Combine(hfDir, "config.json"));
        using var src = WeightSource.OpenSafetensors(hfDir);
        GgufExport.Write(cfg, src, path, new GgufExport.FloatEncoder(type), Path.GetFileName(hfDir));
    }

    // ---- the full shared fixture set -------------------------------------------------------------

    public static TheoryData<string, string> SharedFloatGgufs()
    {
        var data = new TheoryData<string, string>();
        if (TestPaths.SharedFixtures is not { } root) { data.Add("none", "none"); return data; }
        foreach (var dir in Directory.GetDirectories(Path.Combine(root, "models")).Order())
            foreach (var t in new[] { "F32", "F16" })
                if (File.Exists(Path.Combine(dir, "gguf", $"{Path.GetFileName(dir)}-{t}.gguf"))) data.Add(Path.GetFileName(dir), t);
        return data;
    }

    [SharedFixtureTheory]
    [MemberData(nameof(SharedFloatGgufs))]
    public void SharedGgufMatchesLlamaCpp(string name, string type)
    {
        string dir = Path.Combine(TestPaths.SharedFixtures!, "models", name);
        using var model = QwenModel.Load(Path.Combine(dir, "gguf", $"{name}-{type}.gguf"));
        double tol = type == "F32" ? 1e-3 : 2e-2;
        foreach (var s in Reference.Logits(Path.Combine(dir, "reference", $"logits-llamacpp-{type}.json")))
        {
            var (maxAbs, minCos, agree) = Reference.Compare(Reference.Run(model, s.Tokens), s.Logits);
            output.WriteLine($"{name} {type} GGUF vs llama.cpp, {s.Name}: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {agree}/{s.Tokens.Length}");
            Assert.True(maxAbs <= tol, $"{name}/{type}/{s.Name}: max abs diff {maxAbs} > {tol}");
        }
        if (type == "F32")
            foreach (var (seq, prompt, generated) in Reference.Greedy(Path.Combine(dir, "reference", "greedy-llamacpp-F32.json")))
                Assert.True(generated.SequenceEqual(Reference.GreedyContinuation(model, prompt, generated.Length)), $"{name}/{seq}: greedy differs");
    }

    public static TheoryData<string> SharedModels()
    {
        var data = new TheoryData<string>();
        if (TestPaths.SharedFixtures is not { } root) { data.Add("none"); return data; }
        foreach (var dir in Directory.GetDirectories(Path.Combine(root, "models")).Order())
            if (File.Exists(Path.Combine(dir, "config.json"))) data.Add(Path.GetFileName(dir));
        return data;
    }

    [SharedFixtureTheory]
    [MemberData(nameof(SharedModels))]
    public void SharedSafetensorsMatchNumpy(string name)
    {
        string dir = Path.Combine(TestPaths.SharedFixtures!, "models", name);
        using var model = QwenModel.Load(dir);
        using var doc = Reference.ReadJson(Path.Combine(dir, "reference", "logits-numpy.json"));
        foreach (var s in doc.RootElement.GetProperty("sequences").EnumerateArray())
        {
            var tokens = s.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
            var mine = Reference.Run(model, tokens);
            double maxAbs = 0;
            if (s.TryGetProperty("logits", out var logits))
            {
                var r = logits.EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
                maxAbs = Reference.Compare(mine, r).MaxAbs;
            }
            else
            {
                // Real-vocabulary model: per position argmax, log-sum-exp and the top-32 logits.
                int pos = 0;
                foreach (var p in s.GetProperty("positions").EnumerateArray())
                {
                    Assert.Equal(p.GetProperty("argmax").GetInt32(), Reference.ArgMax(mine[pos]));
                    double max = mine[pos].Max(), lse = max + Math.Log(mine[pos].Sum(v => Math.Exp(v - max)));
                    maxAbs = Math.Max(maxAbs, Math.Abs(lse - p.GetProperty("logsumexp").GetDouble()));
                    foreach (var pair in p.GetProperty("top").EnumerateArray())
                        maxAbs = Math.Max(maxAbs, Math.Abs(mine[pos][pair[0].GetInt32()] - pair[1].GetDouble()));
                    pos++;
                }
            }
            output.WriteLine($"{name} safetensors vs numpy, {s.GetProperty("name").GetString()}: max abs {maxAbs:e2}");
            Assert.True(maxAbs <= 1e-3, $"{name}: max abs diff {maxAbs}");
        }
    }
}
