using QwenSharp.Catalog;

namespace QwenSharp.Tests.Catalog;

public class ModelCatalogTests
{
    [Fact]
    public void EveryModelTheIssueNamesIsThere()
    {
        var sizes25 = new[] { "0.5B", "1.5B", "3B", "7B", "14B", "32B", "72B" };
        var expected = sizes25.SelectMany(s => new[] { $"Qwen/Qwen2.5-{s}", $"Qwen/Qwen2.5-{s}-Instruct" })
            .Concat(new[] { "0.5B", "1.5B", "3B", "7B", "14B", "32B" }.Select(s => $"Qwen/Qwen2.5-Coder-{s}-Instruct"))
            .Concat(new[] { "1.5B", "7B", "72B" }.Select(s => $"Qwen/Qwen2.5-Math-{s}-Instruct"))
            .Concat(new[] { "3B", "7B", "32B", "72B" }.Select(s => $"Qwen/Qwen2.5-VL-{s}-Instruct"))
            .Concat(["Qwen/QwQ-32B", "Qwen/Qwen2-57B-A14B-Instruct", "Qwen/Qwen2-Audio-7B-Instruct"])
            .Concat(new[] { "0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B", "235B-A22B" }.Select(s => $"Qwen/Qwen3-{s}"))
            .Concat(new[] { "4B", "30B-A3B", "235B-A22B" }.SelectMany(s => new[] { $"Qwen/Qwen3-{s}-Instruct-2507", $"Qwen/Qwen3-{s}-Thinking-2507" }))
            .Concat(["Qwen/Qwen3-Coder-30B-A3B-Instruct", "Qwen/Qwen3-Coder-480B-A35B-Instruct"]);
        foreach (var repo in expected) Assert.True(ModelCatalog.Find(repo) != null, repo);
        Assert.Equal(ModelCatalog.All.Count, ModelCatalog.All.Select(m => m.Repo).Distinct().Count());
        Assert.Equal("Qwen/Qwen3-8B", ModelCatalog.Find("Qwen/Qwen3-8B-GGUF")!.Repo);
    }

    // Parameter counts published in the model cards (https://huggingface.co/<repo>, "Number of Parameters" and
    // "Number of Paramaters (Non-Embedding)"); the catalog computes them from the architecture. Tolerance: half
    // a unit of the last published digit, or 1%.
    [Theory]
    [InlineData("Qwen/Qwen3-0.6B", 0.6, 0.44, null)]
    [InlineData("Qwen/Qwen3-1.7B", 1.7, 1.4, null)]
    [InlineData("Qwen/Qwen3-4B", 4.0, 3.6, null)]
    [InlineData("Qwen/Qwen3-8B", 8.2, 6.95, null)]
    [InlineData("Qwen/Qwen3-14B", 14.8, 13.2, null)]
    [InlineData("Qwen/Qwen3-32B", 32.8, 31.2, null)]
    [InlineData("Qwen/Qwen3-30B-A3B", 30.5, 29.9, 3.3)]
    [InlineData("Qwen/Qwen3-235B-A22B", 235.0, 234.0, 22.0)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", 0.49, 0.36, null)]
    [InlineData("Qwen/Qwen2.5-1.5B-Instruct", 1.54, 1.31, null)]
    [InlineData("Qwen/Qwen2.5-3B-Instruct", 3.09, 2.77, null)]
    [InlineData("Qwen/Qwen2.5-7B-Instruct", 7.61, 6.53, null)]
    [InlineData("Qwen/Qwen2.5-14B-Instruct", 14.7, 13.1, null)]
    [InlineData("Qwen/Qwen2.5-32B-Instruct", 32.5, 31.0, null)]
    [InlineData("Qwen/Qwen2.5-72B-Instruct", 72.7, 70.0, null)]
    public void ParameterCountsComputedFromTheArchitectureMatchTheModelCards(string repo, double totalB, double nonEmbeddingB, double? activeB)
    {
        var a = ModelCatalog.Find(repo)!.Architecture;
        AssertClose(totalB, a.TotalParams / 1e9, $"{repo} total");
        AssertClose(nonEmbeddingB, a.NonEmbeddingParams / 1e9, $"{repo} non-embedding");
        // The cards round the active count loosely (Qwen3-30B-A3B: 3.35B computed with embeddings, "3.3B"): 2%.
        if (activeB != null) Assert.True(System.Math.Abs(a.ActiveParams / 1e9 - activeB.Value) / activeB.Value < 0.02, $"{repo} active: {a.ActiveParams / 1e9:0.000}B");
        else Assert.Equal(a.TotalParams, a.ActiveParams);
    }

    // Totals of the models with encoders and of the other MoE models, from their model cards / Hub pages:
    // Qwen2.5-VL 3B 3.75B, 7B 8.29B, 32B 33.5B, 72B 73.4B; Qwen2-57B-A14B 57.4B ("A14B": 14B active);
    // Qwen3-Coder-480B-A35B 480B (35B active).
    [Theory]
    [InlineData("Qwen/Qwen2.5-VL-3B-Instruct", 3.75, null)]
    [InlineData("Qwen/Qwen2.5-VL-7B-Instruct", 8.29, null)]
    [InlineData("Qwen/Qwen2.5-VL-32B-Instruct", 33.5, null)]
    [InlineData("Qwen/Qwen2.5-VL-72B-Instruct", 73.4, null)]
    [InlineData("Qwen/Qwen2-57B-A14B-Instruct", 57.4, 14.0)]
    [InlineData("Qwen/Qwen3-Coder-480B-A35B-Instruct", 480.0, 35.0)]
    public void MultimodalAndMoeTotalsMatchTheirCards(string repo, double totalB, double? activeB)
    {
        var a = ModelCatalog.Find(repo)!.Architecture;
        Assert.True(System.Math.Abs(a.TotalParams / 1e9 - totalB) / totalB < 0.02, $"{repo}: {a.TotalParams / 1e9:0.00}B vs {totalB}B");
        if (activeB != null) Assert.True(System.Math.Abs(a.ActiveParams / 1e9 - activeB.Value) / activeB.Value < 0.05, $"{repo} active: {a.ActiveParams / 1e9:0.00}B");
    }

    static void AssertClose(double published, double computed, string what)
    {
        string s = published.ToString(System.Globalization.CultureInfo.InvariantCulture);
        int decimals = s.Contains('.') ? s.Length - s.IndexOf('.') - 1 : 0;
        double tolerance = System.Math.Max(0.5 * System.Math.Pow(10, -decimals), 0.01 * published);
        Assert.True(System.Math.Abs(published - computed) <= tolerance, $"{what}: computed {computed:0.000}B, published {published}B");
    }

    [Fact]
    public void RunnableTodayMeansQwenTextArchitectures()
    {
        Assert.True(ModelCatalog.Find("Qwen/Qwen3-0.6B")!.RunnableToday);
        Assert.True(ModelCatalog.Find("Qwen/Qwen3-30B-A3B")!.RunnableToday);
        Assert.True(ModelCatalog.Find("Qwen/Qwen2-57B-A14B-Instruct")!.RunnableToday);
        Assert.False(ModelCatalog.Find("Qwen/Qwen2.5-VL-7B-Instruct")!.RunnableToday);
        Assert.Contains("vision", ModelCatalog.Find("Qwen/Qwen2.5-VL-7B-Instruct")!.RunnableReason);
        Assert.Contains("audio", ModelCatalog.Find("Qwen/Qwen2-Audio-7B-Instruct")!.RunnableReason);
    }

    [Fact]
    public void RecommendationsFitTheMemoryAndSayHowToRunThem()
    {
        long budget = 16L << 30;
        var recs = ModelCatalog.Recommend(ModelTask.Chat, budget, 32768, RecommendPriority.Balanced);
        Assert.NotEmpty(recs);
        Assert.Equal(Enumerable.Range(1, recs.Count), recs.Select(r => r.Rank));
        foreach (var r in recs)
        {
            Assert.True(r.Memory.TotalBytes <= budget);
            Assert.True(r.Model.RunnableToday);
            Assert.StartsWith("qwensharp chat --model Qwen/", r.Command);
            if (r.Quant != GgufQuant.BF16) Assert.Contains($"--include '*{r.Quant}*.gguf'", r.Command);
            Assert.Contains("GB", r.Explanation);
        }
        Assert.Equal(recs.Count, recs.Select(r => r.Model.Repo).Distinct().Count());
        Assert.True(recs.Zip(recs.Skip(1)).All(p => p.First.Score >= p.Second.Score));
    }

    [Fact]
    public void MoreMemoryAllowsBiggerModelsAndSpeedPrefersFewerBytesPerToken()
    {
        var small = ModelCatalog.Recommend(ModelTask.Chat, 4L << 30, 8192, RecommendPriority.Quality)[0];
        var big = ModelCatalog.Recommend(ModelTask.Chat, 64L << 30, 8192, RecommendPriority.Quality)[0];
        Assert.True(big.Memory.WeightBytes > small.Memory.WeightBytes);
        var fast = ModelCatalog.Recommend(ModelTask.Chat, 64L << 30, 8192, RecommendPriority.Speed)[0];
        Assert.True(ModelCatalog.BytesPerToken(fast.Model, fast.Quant) < ModelCatalog.BytesPerToken(big.Model, big.Quant));
    }

    [Fact]
    public void TaskSpecialistsAndLimitsAreHonoured()
    {
        Assert.Contains("Coder", ModelCatalog.Recommend(ModelTask.Code, 32L << 30, 32768, RecommendPriority.Balanced)[0].Model.Family);
        var vision = ModelCatalog.Recommend(ModelTask.Vision, 32L << 30, 8192, RecommendPriority.Balanced);
        Assert.NotEmpty(vision);
        Assert.All(vision, r => Assert.Contains("cannot run it yet", r.Explanation));
        Assert.Empty(ModelCatalog.Recommend(ModelTask.Chat, 100L << 20, 4096, RecommendPriority.Balanced));
        Assert.Empty(ModelCatalog.Recommend(ModelTask.Chat, 1L << 40, 4 << 20, RecommendPriority.Balanced));
        var longCtx = ModelCatalog.Recommend(ModelTask.Chat, 64L << 30, 131072, RecommendPriority.Balanced);
        Assert.All(longCtx, r => Assert.True(r.Model.MaxContext >= 131072));
        Assert.Contains(longCtx, r => r.NeedsYarn && r.Explanation.Contains("YaRN"));
    }

    [Theory]
    [InlineData("16GB", 16L << 30)]
    [InlineData("16 GiB", 16L << 30)]
    [InlineData("512mb", 512L << 20)]
    [InlineData("1.5T", 3L << 39)]
    [InlineData("1000", 1000)]
    public void MemorySizesParse(string text, long bytes)
    {
        Assert.True(Units.TryParseBytes(text, out var b));
        Assert.Equal(bytes, b);
    }

    [Theory]
    [InlineData("32k", 32768)]
    [InlineData("128K", 131072)]
    [InlineData("1M", 1048576)]
    [InlineData("4096", 4096)]
    public void ContextLengthsParse(string text, int tokens)
    {
        Assert.True(Units.TryParseContext(text, out var t));
        Assert.Equal(tokens, t);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("-1GB")]
    [InlineData("")]
    public void BadSizesAreRejected(string text) => Assert.False(Units.TryParseBytes(text, out _));

    [Fact]
    public void MeminfoIsParsedAndMachineDetectionGivesPlausibleValues()
    {
        var (total, avail) = MachineInfo.ParseMeminfo("MemTotal:       16315856 kB\nMemFree:  1000 kB\nMemAvailable:   12000000 kB\n");
        Assert.Equal(16315856L * 1024, total);
        Assert.Equal(12000000L * 1024, avail);
        var m = MachineInfo.Detect();
        Assert.True(m.TotalMemoryBytes > 0);
        Assert.InRange(m.AvailableMemoryBytes, 0, m.TotalMemoryBytes);
        Assert.True(m.Cores >= 1);
        Assert.True(m.UsableMemoryBytes <= m.TotalMemoryBytes);
    }
}
