using QwenSharp.Engine;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Tensors;
using static QwenSharp.Tests.Lora.LoraTestSupport;

namespace QwenSharp.Tests.Lora;

/// <summary>
/// Run-time LoRA (y += scale·B·A·x beside each base matmul, per sequence) against models whose weights were
/// merged by the test itself; several adapters and the base model in one batch; merging by the library
/// (folder and GGUF) against run-time application.
/// </summary>
public class RuntimeAdapterTests
{
    [Theory]
    [InlineData("qwen2-tiny")]   // q/k/v biases
    [InlineData("qwen3-tiny")]   // q/k norms
    public void RuntimeApplicationEqualsMergedWeights(string name)
    {
        string dir = TestPaths.NewTempDir();
        using var model = QwenModel.Load(ModelDir(name));
        var adapter = RandomAdapter(model.Config, "a", seed: 1);
        var baseLogits = Logits(model, Prompt);
        int slot = model.AttachAdapter(adapter);
        var runtime = Logits(model, Prompt, slot);
        Assert.True(MaxDiff(runtime, baseLogits) > 0.1, "the adapter changes the logits");
        Assert.Equal(0, MaxDiff(Logits(model, Prompt), baseLogits)); // base sequences unaffected

        using var merged = QwenModel.Load(MergeIndependently(ModelDir(name), adapter, Path.Combine(dir, "merged")));
        var expected = Logits(merged, Prompt);
        Assert.True(MaxDiff(runtime, expected) < 2e-3, $"runtime vs merged: {MaxDiff(runtime, expected)}");

        // The library's merge (f32 safetensors) gives the same model.
        string libDir = Path.Combine(dir, "lib");
        LoraMerge.MergeToDisk(ModelDir(name), adapter, libDir, GgmlType.F32);
        using var lib = QwenModel.Load(libDir);
        Assert.True(MaxDiff(Logits(lib, Prompt), expected) < 1e-4);
        Assert.True(File.Exists(Path.Combine(libDir, "tokenizer.json")));
        Assert.Equal("float32", ReadJson(Path.Combine(libDir, "config.json"))["torch_dtype"]!.GetValue<string>());
        Directory.Delete(dir, true);
    }

    [Fact]
    public void SequencesWithDifferentAdaptersShareOneBatch()
    {
        using var model = QwenModel.Load(ModelDir("qwen3-tiny"));
        var a = RandomAdapter(model.Config, "a", seed: 2);
        var b = RandomAdapter(model.Config, "b", seed: 3, rank: 2, targets: ["v_proj", "down_proj"]);
        int sa = model.AttachAdapter(a), sb = model.AttachAdapter(b);
        Assert.NotEqual(sa, sb);
        int[] p1 = Prompt, p2 = [.. Prompt.Reverse().Take(7)], p3 = [5, 6, 7, 8, 9];
        var alone = new[] { Logits(model, p1, sa), Logits(model, p2, sb), Logits(model, p3, -1) };

        using var cache = model.CreateKvCache(256, KvCacheType.F32);
        using var ctx = model.CreateContext(WorkerPool.Shared);
        var seqs = new[] { cache.CreateSequence(), cache.CreateSequence(), cache.CreateSequence() };
        seqs[0].AdapterSlot = sa; seqs[1].AdapterSlot = sb;
        var batch = new ForwardBatch();
        batch.AddSequence(seqs[0], p1, logitsForAll: true);
        batch.AddSequence(seqs[1], p2, logitsForAll: true);
        batch.AddSequence(seqs[2], p3, logitsForAll: true);
        int vocab = model.Config.VocabSize;
        var logits = new float[batch.OutputCount * vocab];
        model.Forward(ctx, batch, logits);
        int row = 0;
        for (int s = 0; s < 3; s++)
        {
            int len = alone[s].Length;
            var mine = logits.AsSpan(row * vocab, len).ToArray();
            Assert.True(MaxDiff(mine, alone[s]) < 1e-4, $"sequence {s}: {MaxDiff(mine, alone[s])}");
            row += len / vocab;
        }
        foreach (var s in seqs) s.Dispose();

        // Detached: the slot runs the base weights again.
        model.DetachAdapter(sa);
        Assert.Equal(0, MaxDiff(Logits(model, p1, sa), Logits(model, p1)));
    }

    [Fact]
    public void MixtureOfExpertsAdaptersApplyToRoutedAndSharedExperts()
    {
        string dir = TestPaths.NewTempDir();
        using var model = QwenModel.Load(ModelDir("qwen2moe-tiny"));
        var adapter = RandomAdapter(model.Config, "moe", seed: 4);
        Assert.Contains(adapter.Modules.Keys, k => k.Contains(".experts.3."));
        Assert.Contains(adapter.Modules.Keys, k => k.Contains(".shared_expert."));
        int slot = model.AttachAdapter(adapter);
        var runtime = Logits(model, Prompt, slot);
        LoraMerge.MergeToDisk(ModelDir("qwen2moe-tiny"), adapter, Path.Combine(dir, "m"), GgmlType.F32);
        using var merged = QwenModel.Load(Path.Combine(dir, "m"));
        var expected = Logits(merged, Prompt);
        Assert.True(MaxDiff(runtime, Logits(model, Prompt)) > 0.1);
        Assert.True(MaxDiff(runtime, expected) < 2e-3, $"{MaxDiff(runtime, expected)}");
        Directory.Delete(dir, true);
    }

    [Fact]
    public void AdaptersMustFitTheModel()
    {
        using var model = QwenModel.Load(ModelDir("qwen3-tiny"));
        using var other = QwenModel.Load(ModelDir("qwen2-sharded-tiny"));
        var foreign = RandomAdapter(other.Config, "foreign", seed: 5);
        var e = Assert.Throws<QwenSharp.Formats.ModelFormatException>(() => model.AttachAdapter(foreign));
        Assert.Contains("another model", e.Message);
        var extra = new LoraAdapter("x", new LoraConfig(), [new LoraWeights("model.layers.9.self_attn.q_proj", 2, 256, 256, 1f)]);
        Assert.Contains("does not exist", Assert.Throws<QwenSharp.Formats.ModelFormatException>(() => model.AttachAdapter(extra)).Message);
        var head = new LoraAdapter("h", new LoraConfig(), [new LoraWeights("lm_head", 2, 256, 512, 1f)]);
        Assert.Contains("LM head", Assert.Throws<QwenSharp.Formats.ModelFormatException>(() => model.AttachAdapter(head)).Message);
    }
}
