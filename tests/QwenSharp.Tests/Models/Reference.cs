using System.IO.Compression;
using System.Text.Json;
using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>Reads the fixture reference files (plain or .gz) and runs models on their sequences.</summary>
public static class Reference
{
    public sealed record Sequence(string Name, int[] Tokens, float[][] Logits);

    public static JsonDocument ReadJson(string path)
    {
        if (!File.Exists(path) && File.Exists(path + ".gz")) path += ".gz";
        using var fs = File.OpenRead(path);
        Stream s = path.EndsWith(".gz") ? new GZipStream(fs, CompressionMode.Decompress) : fs;
        using (s) return JsonDocument.Parse(s);
    }

    /// <summary>The sequences of a logits-*.json file with full logits per position.</summary>
    public static List<Sequence> Logits(string path)
    {
        using var doc = ReadJson(path);
        var list = new List<Sequence>();
        foreach (var s in doc.RootElement.GetProperty("sequences").EnumerateArray())
        {
            var tokens = s.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
            var logits = s.GetProperty("logits").EnumerateArray()
                .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
            list.Add(new Sequence(s.GetProperty("name").GetString()!, tokens, logits));
        }
        return list;
    }

    /// <summary>(prompt, generated) pairs of greedy-llamacpp-F32.json.</summary>
    public static List<(string Name, int[] Prompt, int[] Generated)> Greedy(string path)
    {
        using var doc = ReadJson(path);
        return doc.RootElement.GetProperty("sequences").EnumerateArray().Select(s => (
            s.GetProperty("name").GetString()!,
            s.GetProperty("prompt").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            s.GetProperty("generated").EnumerateArray().Select(t => t.GetInt32()).ToArray())).ToList();
    }

    /// <summary>All-position logits of one sequence, with an F32 KV cache (as the references use).</summary>
    public static float[][] Run(QwenModel model, int[] tokens, KvCacheType kv = KvCacheType.F32)
    {
        using var cache = model.CreateKvCache(tokens.Length + 8, kv);
        using var seq = cache.CreateSequence();
        using var ctx = model.CreateContext();
        var batch = new ForwardBatch();
        batch.AddSequence(seq, tokens, logitsForAll: true);
        int vocab = model.Config.VocabSize;
        var flat = new float[tokens.Length * vocab];
        model.Forward(ctx, batch, flat);
        return Enumerable.Range(0, tokens.Length).Select(i => flat.AsSpan(i * vocab, vocab).ToArray()).ToArray();
    }

    /// <summary>Greedy continuation (argmax, lowest id on ties), one token per forward pass after the prompt.</summary>
    public static int[] GreedyContinuation(QwenModel model, int[] prompt, int count)
    {
        using var cache = model.CreateKvCache(prompt.Length + count + 1, KvCacheType.F32);
        using var seq = cache.CreateSequence();
        using var ctx = model.CreateContext();
        var batch = new ForwardBatch();
        int vocab = model.Config.VocabSize;
        var logits = new float[vocab];
        batch.AddSequence(seq, prompt);
        var result = new int[count];
        for (int i = 0; i < count; i++)
        {
            model.Forward(ctx, batch, logits);
            int best = 0;
            for (int j = 1; j < vocab; j++) if (logits[j] > logits[best]) best = j;
            result[i] = best;
            batch.Clear();
            batch.AddSequence(seq, [best]);
        }
        return result;
    }

    public static (double MaxAbs, double MinCosine, int ArgmaxAgree) Compare(float[][] mine, float[][] reference)
    {
        Assert.Equal(reference.Length, mine.Length);
        double maxAbs = 0, minCos = 1;
        int agree = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            Assert.Equal(reference[i].Length, mine[i].Length);
            double dot = 0, na = 0, nb = 0;
            for (int j = 0; j < reference[i].Length; j++)
            {
                double a = mine[i][j], b = reference[i][j];
                maxAbs = Math.Max(maxAbs, Math.Abs(a - b));
                dot += a * b; na += a * a; nb += b * b;
            }
            minCos = Math.Min(minCos, dot / Math.Sqrt(na * nb));
            if (ArgMax(mine[i]) == ArgMax(reference[i])) agree++;
        }
        return (maxAbs, minCos, agree);
    }

    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int j = 1; j < v.Length; j++) if (v[j] > v[best]) best = j;
        return best;
    }
}
