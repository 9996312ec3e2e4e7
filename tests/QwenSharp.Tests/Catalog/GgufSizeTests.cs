using QwenSharp.Catalog;
using QwenSharp.Formats;

namespace QwenSharp.Tests.Catalog;

public class GgufSizeTests
{
    /// <summary>Computes each tensor's type and size from the config.json architecture and compares them with
    /// the GGUF file written by llama.cpp's quantizer: names, types and bytes must match exactly.</summary>
    static void AssertMatchesFile(string configPath, string ggufPath)
    {
        var arch = ModelArchitecture.FromConfigJson(File.ReadAllText(configPath), configPath);
        string quantName = Path.GetFileNameWithoutExtension(ggufPath).Split('-')[^1];
        Assert.True(GgufQuantInfo.TryParse(quantName, out var quant), quantName);
        using var gguf = new GgufFile(ggufPath);
        var expected = gguf.Tensors.ToDictionary(t => t.Name);
        var computed = GgufSize.Assign(arch, quant);

        Assert.Equal(expected.Keys.Order(), computed.Select(c => c.Tensor.Name).Order());
        foreach (var (spec, type) in computed)
        {
            var t = expected[spec.Name];
            Assert.Equal(t.Shape.Reverse(), spec.Ne);
            Assert.True(t.Type == type, $"{Path.GetFileName(ggufPath)} {spec.Name}: file has {t.Type}, computed {type}");
            Assert.Equal(t.ByteSize, GgufSize.Bytes(spec, type));
        }
        Assert.Equal(gguf.Tensors.Sum(t => t.ByteSize), GgufSize.TensorBytes(arch, quant));
    }

    [Theory]
    [InlineData("qwen3-tiny", "Q4_K_M")]
    [InlineData("qwen2moe-tiny", "Q4_K_M")]
    [InlineData("qwen2-tiny", "Q4_0")]
    public void ComputedTensorTypesAndSizesMatchTheFixtureFiles(string model, string quant)
    {
        string dir = Path.Combine(TestPaths.Fixtures, "hub", "gguf");
        AssertMatchesFile(Path.Combine(dir, model + ".config.json"), Path.Combine(dir, $"{model}-{quant}.gguf"));
    }

    public static IEnumerable<object[]> SharedGgufFiles()
    {
        if (TestPaths.SharedFixtures == null) return [["(absent)", "(absent)"]];
        var models = Path.Combine(TestPaths.SharedFixtures, "models");
        return Directory.GetDirectories(models)
            .Where(d => Directory.Exists(Path.Combine(d, "gguf")))
            .SelectMany(d => Directory.GetFiles(Path.Combine(d, "gguf"), "*.gguf").Order().Select(g => new object[] { Path.GetFileName(d), Path.GetFileName(g) }));
    }

    [SharedFixtureTheory]
    [MemberData(nameof(SharedGgufFiles))]
    public void ComputedSizesMatchEverySharedFixtureGguf(string model, string file)
    {
        var dir = Path.Combine(TestPaths.SharedFixtures!, "models", model);
        AssertMatchesFile(Path.Combine(dir, "config.json"), Path.Combine(dir, "gguf", file));
    }

    static ModelArchitecture Arch(string repo) => ModelCatalog.Find(repo)!.Architecture;

    // Published sizes of GGUF files made with llama.cpp's converter and quantizer, as the Hugging Face Hub
    // lists them (decimal units, 3 significant digits: 1.28 GB = 1.28e9 bytes +- 0.4%):
    //  - https://huggingface.co/ggml-org/Qwen3-1.7B-GGUF : Q4_K_M 1.28 GB, Q8_0 2.17 GB, F16 4.07 GB
    //  - https://huggingface.co/ggml-org/Qwen3-32B-GGUF  : Q4_K_M 19.8 GB, Q8_0 34.8 GB, F16 65.5 GB
    //  - https://huggingface.co/codebasic/Qwen3-8B-GGUF/tree/main : Q4_0 4.77 GB, Q6_K 6.73 GB, Q8_0 8.71 GB, F16 16.4 GB
    //  - https://huggingface.co/QuantFactory/Qwen2.5-0.5B-Instruct-GGUF : Q4_0 352 MB, Q4_K_M 398 MB, Q5_K_M 420 MB,
    //    Q6_K 506 MB, Q8_0 531 MB (a converter that writes no output.weight for this tied model)
    //  - https://huggingface.co/legraphista/Qwen2.5-0.5B-Instruct-IMat-GGUF : FP16 994 MB
    //  - Qwen/Qwen2.5-0.5B-Instruct-GGUF (official): qwen2.5-0.5b-instruct-q8_0.gguf ~ 676 MB, as quoted in the
    //    issue brief (these official files carry a separate output.weight copy of the tied embedding).
    [Theory]
    [InlineData("Qwen/Qwen3-1.7B", null, "Q4_K_M", 1.28e9)]
    [InlineData("Qwen/Qwen3-1.7B", null, "Q8_0", 2.17e9)]
    [InlineData("Qwen/Qwen3-1.7B", null, "F16", 4.07e9)]
    [InlineData("Qwen/Qwen3-32B", null, "Q4_K_M", 19.8e9)]
    [InlineData("Qwen/Qwen3-32B", null, "Q8_0", 34.8e9)]
    [InlineData("Qwen/Qwen3-32B", null, "F16", 65.5e9)]
    [InlineData("Qwen/Qwen3-8B", null, "Q4_0", 4.77e9)]
    [InlineData("Qwen/Qwen3-8B", null, "Q6_K", 6.73e9)]
    [InlineData("Qwen/Qwen3-8B", null, "Q8_0", 8.71e9)]
    [InlineData("Qwen/Qwen3-8B", null, "F16", 16.4e9)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", false, "Q4_0", 352e6)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", false, "Q4_K_M", 398e6)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", false, "Q5_K_M", 420e6)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", false, "Q6_K", 506e6)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", false, "Q8_0", 531e6)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", false, "F16", 994e6)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", true, "Q8_0", 676e6)]
    public void FileSizeEstimateIsWithinOnePercentOfPublishedFiles(string repo, bool? outputTensor, string quant, double published)
    {
        var arch = Arch(repo);
        if (outputTensor != null) arch = arch with { GgufOutputTensor = outputTensor };
        Assert.True(GgufQuantInfo.TryParse(quant, out var q));
        double estimate = GgufSize.FileBytes(arch, q);
        double error = System.Math.Abs(estimate - published) / published;
        Assert.True(error < 0.01, $"{repo} {quant}: estimated {estimate / 1e9:0.000} GB, published {published / 1e9:0.000} GB ({error:P2} off)");
    }

    [Fact]
    public void KvCacheMatchesLlamaCppsReport()
    {
        // llama.cpp reports "KV self size = 4608.00 MiB, K (f16): 2304.00 MiB, V (f16): 2304.00 MiB" for Qwen3-8B
        // at n_ctx 32768 (36 layers x 8 KV heads x 128 dims).
        var m = MemoryEstimate.For(Arch("Qwen/Qwen3-8B"), GgufQuant.Q4_K_M, 32768);
        Assert.Equal(4608L << 20, m.KvCacheBytes);
        Assert.Equal(2 * m.KvCacheBytes, MemoryEstimate.For(Arch("Qwen/Qwen3-8B"), GgufQuant.Q4_K_M, 32768, batch: 2).KvCacheBytes);
        Assert.Equal(m.WeightBytes + m.KvCacheBytes + m.ComputeBytes, m.TotalBytes);
        Assert.Equal(GgufSize.TensorBytes(Arch("Qwen/Qwen3-8B"), GgufQuant.Q4_K_M), m.WeightBytes);
    }

    [Theory]
    [InlineData(0, 24, true)]
    [InlineData(2, 24, true)]
    [InlineData(3, 24, false)]
    [InlineData(4, 24, false)]
    [InlineData(5, 24, true)]
    [InlineData(19, 24, false)]
    [InlineData(20, 24, true)]
    [InlineData(21, 24, true)]
    public void UseMoreBitsFollowsLlamaCpp(int layer, int layers, bool expected) => Assert.Equal(expected, GgufSize.UseMoreBits(layer, layers));
}
