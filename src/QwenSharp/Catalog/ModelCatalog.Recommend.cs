namespace QwenSharp.Catalog;

public static partial class ModelCatalog
{
    /// <summary>
    /// Ranks the models and quantizations that fit <paramref name="memoryBytes"/> at <paramref name="context"/>
    /// tokens for <paramref name="task"/>. Each model appears once, in its best form for the priority:
    /// <list type="bullet">
    /// <item>quality: the strongest model that fits (size, generation, specialisation for the task), then the highest precision;</item>
    /// <item>speed: fewest bytes read per token (active parameters x bits), keeping a minimum of quality;</item>
    /// <item>balanced: quality, less a penalty for the bytes read per token.</item>
    /// </list>
    /// Models QwenSharp runs today come first for text tasks. Base (non-instruct) models are left out.
    /// </summary>
    public static IReadOnlyList<Recommendation> Recommend(ModelTask task, long memoryBytes, int context, RecommendPriority priority, int count = 5, int batch = 1)
    {
        if (memoryBytes <= 0) throw new ArgumentOutOfRangeException(nameof(memoryBytes), "memory must be positive");
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(context), "context must be at least 1 token");
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count));
        var best = new List<(CatalogModel m, GgufQuant q, MemoryEstimate mem, double score, bool yarn)>();
        foreach (var m in All)
        {
            if (!m.IsInstruct || (m.Tasks & task) == 0) continue;
            if (context > m.MaxContext) continue;
            (CatalogModel, GgufQuant, MemoryEstimate, double, bool)? top = null;
            foreach (var q in FormsOf(m))
            {
                var mem = MemoryEstimate.For(m.Architecture, q, context, batch);
                if (mem.TotalBytes > memoryBytes) continue;
                double s = Score(m, q, task, priority);
                if (top == null || s > top.Value.Item4) top = (m, q, mem, s, context > m.NativeContext);
            }
            if (top != null) best.Add(top.Value);
        }
        return best.OrderByDescending(b => b.score).Take(count)
            .Select((b, i) => new Recommendation(i + 1, b.m, b.q, b.mem, b.score, Explain(b.m, b.q, b.mem, memoryBytes, task, b.yarn), b.m.CommandFor(b.q), b.yarn))
            .ToList();
    }

    /// <summary>The forms a model can be downloaded in: its official GGUF quantizations and the original BF16 weights.</summary>
    public static IEnumerable<GgufQuant> FormsOf(CatalogModel m) => m.GgufQuants.Where(q => q != GgufQuant.F16).Append(GgufQuant.BF16);

    static double Quality(CatalogModel m, ModelTask task)
    {
        double effective = m.Architecture.IsMoe ? System.Math.Sqrt((double)m.TotalParams * m.ActiveParams) : m.TotalParams;
        double q = System.Math.Log2(effective / 1e9 + 0.25) * 2;
        q += m.Family switch { "Qwen2" or "Qwen2-Audio" => 0, "Qwen3" or "QwQ" or "Qwen3-Coder" => 2, "Qwen3-2507" => 2.5, _ => 1 };
        bool specialist = task switch
        {
            ModelTask.Code => m.Family.Contains("Coder", StringComparison.Ordinal),
            ModelTask.Math => m.Family == "Qwen2.5-Math" || m.Thinking != ThinkingMode.None,
            ModelTask.Reasoning => m.Thinking != ThinkingMode.None,
            ModelTask.Vision => (m.Modalities & Modality.Vision) != 0,
            ModelTask.Audio => (m.Modalities & Modality.Audio) != 0,
            ModelTask.Multilingual => m.Family.StartsWith("Qwen3", StringComparison.Ordinal),
            _ => false,
        };
        if (specialist) q += 2;
        if (task is ModelTask.Reasoning or ModelTask.Math && m.Thinking == ThinkingMode.Always) q += 0.5;
        if ((task & (ModelTask.Vision | ModelTask.Audio)) == 0 && m.RunnableToday) q += 4;
        return q;
    }

    static double Score(CatalogModel m, GgufQuant q, ModelTask task, RecommendPriority priority)
    {
        double quality = Quality(m, task) + 40 * System.Math.Log(GgufQuantInfo.QualityFactor(q));
        double perTokenGb = System.Math.Max(0.05, BytesPerToken(m, q) / 1e9);
        return priority switch
        {
            RecommendPriority.Quality => quality,
            RecommendPriority.Speed => quality * 0.35 - 2.5 * System.Math.Log2(perTokenGb),
            _ => quality - 1.0 * System.Math.Log2(perTokenGb),
        };
    }

    /// <summary>Weight bytes read to produce one token (the active experts only, for MoE models).</summary>
    public static long BytesPerToken(CatalogModel m, GgufQuant q)
    {
        long all = GgufSize.TensorBytes(m.Architecture, q);
        if (!m.Architecture.IsMoe) return all;
        double activeShare = (double)m.ActiveParams / m.TotalParams;
        return (long)(all * activeShare);
    }

    static string Explain(CatalogModel m, GgufQuant q, MemoryEstimate mem, long budget, ModelTask task, bool yarn)
    {
        string size = m.Architecture.IsMoe
            ? $"{Units.FormatParams(m.TotalParams)} MoE ({Units.FormatParams(m.ActiveParams)} active)"
            : Units.FormatParams(m.TotalParams);
        string form = q == GgufQuant.BF16 ? "BF16 weights" : q.ToString();
        string why = task switch
        {
            ModelTask.Code when m.Family.Contains("Coder", StringComparison.Ordinal) => "code specialist",
            ModelTask.Math when m.Family == "Qwen2.5-Math" => "math specialist",
            ModelTask.Reasoning or ModelTask.Math when m.Thinking == ThinkingMode.Always => "always reasons step by step",
            ModelTask.Reasoning or ModelTask.Math when m.Thinking == ThinkingMode.Hybrid => "thinking mode for hard problems",
            _ => m.Strengths.Split(',')[0],
        };
        string runs = m.RunnableToday ? "runs in QwenSharp today" : $"QwenSharp cannot run it yet ({m.RunnableReason[4..]})";
        return $"{size} {m.Family}, {form}: {Units.FormatBytes(mem.WeightBytes)} weights + {Units.FormatBytes(mem.KvCacheBytes)} KV cache at " +
               $"{Units.FormatContext(mem.Context)} = {Units.FormatBytes(mem.TotalBytes)} of {Units.FormatBytes(budget)}; {why}" +
               $"{(yarn ? $"; beyond its native {Units.FormatContext(m.NativeContext)} context: needs YaRN" : "")}; {runs}";
    }
}
