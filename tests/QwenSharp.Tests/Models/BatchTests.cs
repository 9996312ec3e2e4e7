using QwenSharp.Engine;
using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>The batch-first forward pass: results do not depend on how tokens are batched.</summary>
public class BatchTests
{
    static string Dir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    [Theory]
    [InlineData("qwen3-tiny")]
    [InlineData("qwen2moe-tiny")]
    public void IncrementalAndBatchedEqualOneShot(string name)
    {
        using var model = QwenModel.Load(Dir(name));
        int vocab = model.Config.VocabSize;
        int[] a = [1, 5, 9, 200, 33, 7, 100, 42, 17, 3, 250, 11, 12, 13, 14, 15, 16, 18, 19, 20];
        int[] b = [300, 2, 4, 8, 16, 32, 64];
        var refA = Reference.Run(model, a);
        var refB = Reference.Run(model, b);

        // Token by token.
        using (var cache = model.CreateKvCache(64, KvCacheType.F32))
        using (var seq = cache.CreateSequence())
        using (var ctx = model.CreateContext())
        {
            var batch = new ForwardBatch();
            var logits = new float[vocab];
            for (int i = 0; i < a.Length; i++)
            {
                batch.Clear();
                batch.AddSequence(seq, [a[i]]);
                model.Forward(ctx, batch, logits);
                Assert.Equal(refA[i], logits);
            }
        }

        // Two sequences in one batch, in chunks, interleaved with threads other than the default.
        using (var pool = new WorkerPool(3))
        using (var cache = model.CreateKvCache(64, KvCacheType.F32))
        using (var sa = cache.CreateSequence())
        using (var sb = cache.CreateSequence())
        using (var ctx = model.CreateContext(pool))
        {
            var batch = new ForwardBatch();
            batch.AddSequence(sa, a.AsSpan(0, 12), logitsForAll: true);
            batch.AddSequence(sb, b, logitsForAll: true);
            var logits = new float[batch.OutputCount * vocab];
            model.Forward(ctx, batch, logits);
            for (int i = 0; i < 12; i++) Assert.Equal(refA[i], logits.AsSpan(i * vocab, vocab).ToArray());
            for (int i = 0; i < b.Length; i++) Assert.Equal(refB[i], logits.AsSpan((12 + i) * vocab, vocab).ToArray());
            batch.Clear();
            batch.AddSequence(sa, a.AsSpan(12), logitsForAll: true);
            logits = new float[batch.OutputCount * vocab];
            model.Forward(ctx, batch, logits);
            for (int i = 12; i < a.Length; i++) Assert.Equal(refA[i], logits.AsSpan((i - 12) * vocab, vocab).ToArray());
        }
    }

    /// <summary>A profile attached to a context times every part of each pass through it, counts passes (a micro-batched
    /// pass once) and tokens, and changes no logit.</summary>
    [Theory]
    [InlineData("qwen3-tiny")]
    [InlineData("qwen2moe-tiny")]
    public void AProfileTimesEveryPartAndChangesNothing(string name)
    {
        using var model = QwenModel.Load(Dir(name));
        int vocab = model.Config.VocabSize;
        int[] prompt = [1, 5, 9, 200, 33, 7, 100, 42, 17, 3];
        float[] Run(ForwardProfile? profile)
        {
            using var cache = model.CreateKvCache(32, KvCacheType.F16);
            using var seq = cache.CreateSequence();
            using var ctx = model.CreateContext();
            ctx.MicroBatchTokens = 4;
            ctx.Profile = profile;
            var batch = new ForwardBatch();
            batch.AddSequence(seq, prompt);
            var logits = new float[vocab];
            model.Forward(ctx, batch, logits);
            var all = new List<float>(logits);
            for (int i = 0; i < 3; i++)
            {
                batch.Clear();
                batch.Add(seq, 11 + i, seq.Length, wantLogits: true);
                model.Forward(ctx, batch, logits);
                all.AddRange(logits);
            }
            return [.. all];
        }
        var plain = Run(null);
        var profile = new ForwardProfile();
        Assert.Equal(plain, Run(profile));
        Assert.Equal(4, profile.Passes);
        Assert.Equal(prompt.Length + 3, profile.Tokens);
        foreach (var part in Enum.GetValues<ForwardProfile.Part>())
            Assert.True(profile[part] > TimeSpan.Zero, $"{ForwardProfile.Name(part)} was not timed");
        double parts = Enum.GetValues<ForwardProfile.Part>().Sum(p => profile[p].TotalMilliseconds);
        Assert.InRange(profile.Total.TotalMilliseconds - parts, -0.001, 0.001);
        Assert.Contains("attention", profile.ToText());
        profile.Reset();
        Assert.Equal(0, profile.Passes);
        Assert.Equal(TimeSpan.Zero, profile.Total);
    }

    /// <summary>A batch longer than the context's micro-batch size runs as several passes (bounded scratch memory); the
    /// logits are exactly those of one pass, for every row asked for, with several sequences and outputs spread over
    /// the micro-batches.</summary>
    [Theory]
    [InlineData("qwen3-tiny", 1)]
    [InlineData("qwen3-tiny", 5)]
    [InlineData("qwen2moe-tiny", 7)]
    public void MicroBatchesEqualOnePass(string name, int microBatch)
    {
        using var model = QwenModel.Load(Dir(name));
        int vocab = model.Config.VocabSize;
        int[] a = [1, 5, 9, 200, 33, 7, 100, 42, 17, 3, 250, 11, 12, 13, 14, 15, 16, 18, 19, 20];
        int[] b = [300, 2, 4, 8, 16, 32, 64];
        float[] Run(int ubatch)
        {
            using var cache = model.CreateKvCache(64, KvCacheType.F16);
            using var sa = cache.CreateSequence();
            using var sb = cache.CreateSequence();
            using var ctx = model.CreateContext();
            ctx.MicroBatchTokens = ubatch;
            var batch = new ForwardBatch();
            batch.AddSequence(sa, a, logitsForAll: true);
            batch.AddSequence(sb, b); // last row only
            var logits = new float[batch.OutputCount * vocab];
            model.Forward(ctx, batch, logits);
            Assert.Equal(a.Length, sa.Length);
            Assert.Equal(b.Length, sb.Length);
            // One more decode step for both, after the micro-batched prompt.
            batch.Clear();
            batch.Add(sa, 77, sa.Length, wantLogits: true);
            batch.Add(sb, 78, sb.Length, wantLogits: true);
            var next = new float[2 * vocab];
            model.Forward(ctx, batch, next);
            return [.. logits, .. next];
        }
        var whole = Run(ForwardContext.DefaultMicroBatchTokens);
        var split = Run(microBatch);
        Assert.Equal((a.Length + 1 + 2) * vocab, whole.Length);
        Assert.Equal(whole, split);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateContext().MicroBatchTokens = 0);
    }

    [Fact]
    public void F16KvCacheStaysClose()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        int[] t = [1, 5, 9, 200, 33, 7, 100, 42];
        var f32 = Reference.Run(model, t, KvCacheType.F32);
        var f16 = Reference.Run(model, t, KvCacheType.F16);
        Assert.True(Reference.Compare(f16, f32).MaxAbs < 2e-2);
    }

    [Fact]
    public void KvCacheFullIsAClearErrorAndFreeingReturnsBlocks()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        using var cache = model.CreateKvCache(32, KvCacheType.F32);
        using var ctx = model.CreateContext();
        var batch = new ForwardBatch();
        using (var seq = cache.CreateSequence())
        {
            batch.AddSequence(seq, Enumerable.Range(1, 40).ToArray());
            var e = Assert.Throws<KvCacheFullException>(() => model.Forward(ctx, batch, new float[model.Config.VocabSize]));
            Assert.Contains("KV cache is full", e.Message);
        }
        Assert.Equal(cache.NumBlocks, cache.FreeBlocks);
    }

    [Fact]
    public void TokenOutsideTheVocabularyIsRejected()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        using var cache = model.CreateKvCache(16);
        using var seq = cache.CreateSequence();
        using var ctx = model.CreateContext();
        var batch = new ForwardBatch();
        batch.AddSequence(seq, [1, 99999]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(ctx, batch, new float[model.Config.VocabSize]));
        Assert.Contains("99999", e.Message);
    }
}
