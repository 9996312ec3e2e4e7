using QwenSharp.Engine;
using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Tests.Models;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Engine;

/// <summary>The continuous-batching engine: parity, determinism, batching invariance, cancellation, limits.</summary>
public class EngineTests
{
    static string Dir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    static async Task<(List<int> Tokens, string Text, EngineEvent Final)> Collect(InferenceEngine engine, EngineRequest req, CancellationToken ct = default)
    {
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        EngineEvent? final = null;
        await foreach (var e in engine.GenerateAsync(req, ct))
        {
            text.Append(e.Text);
            if (e.Finish != null) final = e;
            else tokens.Add(e.TokenId);
        }
        return (tokens, text.ToString(), final!);
    }

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("qwen3-tiny")]
    [InlineData("qwen3moe-tiny")]
    public async Task GreedyMatchesLlamaCppContinuation(string name)
    {
        using var model = QwenModel.Load(Dir(name));
        using var engine = new InferenceEngine(model, null, new EngineOptions { KvCacheType = KvCacheType.F32, KvCacheTokens = 512 });
        var refs = Reference.Greedy(Path.Combine(Dir(name), "reference", "greedy-llamacpp-F32.json"));
        // All sequences at once: batched decoding must not change any of them.
        var runs = refs.Select(r => Collect(engine, new EngineRequest
        {
            Prompt = r.Prompt,
            Sampling = new SamplingParams { Temperature = 0, MaxTokens = r.Generated.Length, IgnoreEos = true },
        })).ToArray();
        var results = await Task.WhenAll(runs);
        for (int i = 0; i < refs.Count; i++)
        {
            Assert.Equal(refs[i].Generated, results[i].Tokens);
            Assert.Equal(FinishReason.Length, results[i].Final.Finish);
        }
    }

    [Fact]
    public async Task SameSeedSameOutputOnAnyThreadCountAndBatch()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        var sampling = new SamplingParams { Temperature = 0.9f, TopP = 0.95f, TopK = 50, Seed = 77, MaxTokens = 24, IgnoreEos = true };
        int[] prompt = [10, 20, 30, 40, 50];
        List<int> alone;
        using (var e1 = new InferenceEngine(model, null, new EngineOptions { Threads = 1 }))
            alone = (await Collect(e1, new EngineRequest { Prompt = prompt, Sampling = sampling })).Tokens;
        using var e3 = new InferenceEngine(model, null, new EngineOptions { Threads = 3, MaxBatchTokens = 7 });
        var others = Enumerable.Range(0, 6).Select(i => Collect(e3, new EngineRequest
        {
            Prompt = [1 + i, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            Sampling = sampling with { Seed = i },
        })).ToList();
        var same = Collect(e3, new EngineRequest { Prompt = prompt, Sampling = sampling });
        await Task.WhenAll(others);
        Assert.Equal(alone, (await same).Tokens);
        Assert.NotEqual(alone, (await others[0]).Tokens);
    }

    [Fact]
    public async Task PreemptionWhenTheCacheIsFullLosesNothing()
    {
        using var model = QwenModel.Load(Dir("qwen2-tiny"));
        var sampling = new SamplingParams { Temperature = 0, MaxTokens = 40, IgnoreEos = true };
        var prompts = Enumerable.Range(0, 5).Select(i => Enumerable.Range(3 + i, 20).ToArray()).ToArray();
        var expected = new List<List<int>>();
        using (var big = new InferenceEngine(model, null, new EngineOptions { KvCacheTokens = 1024 }))
            foreach (var p in prompts) expected.Add((await Collect(big, new EngineRequest { Prompt = p, Sampling = sampling })).Tokens);
        // 5 sequences of 60 tokens need 20 blocks; 10 blocks force preemption and recomputation.
        using var small = new InferenceEngine(model, null, new EngineOptions { KvCacheTokens = 160, PrefixCaching = false });
        var results = await Task.WhenAll(prompts.Select(p => Collect(small, new EngineRequest { Prompt = p, Sampling = sampling })));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], results[i].Tokens);
        Assert.Equal(small.KvCache.NumBlocks, small.KvCache.FreeBlocks);
    }

    [Fact]
    public async Task CancellationStopsTheSequenceAndFreesItsCache()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        using var engine = new InferenceEngine(model, null, new EngineOptions { PrefixCaching = false, KvCacheTokens = 4096 });
        // The tiny model writes 3,000 tokens in a fraction of a second: each step takes at least a millisecond so the
        // sequence is still running when the cancellation arrives, however late the reader sees its fifth token.
        engine.AfterForward = () => Thread.Sleep(1);
        using var cts = new CancellationTokenSource();
        int count = 0;
        EngineEvent? final = null;
        await foreach (var e in engine.GenerateAsync(new EngineRequest { Prompt = [1, 2, 3], Sampling = new SamplingParams { Temperature = 0, IgnoreEos = true, MaxTokens = 3000 } }, cts.Token))
        {
            if (e.Finish != null) { final = e; break; }
            if (++count == 5) cts.Cancel();
        }
        Assert.Equal(FinishReason.Cancelled, final!.Finish);
        for (int i = 0; i < 100 && engine.KvCache.FreeBlocks != engine.KvCache.NumBlocks; i++) await Task.Delay(10);
        Assert.Equal(engine.KvCache.NumBlocks, engine.KvCache.FreeBlocks);

        // Abandoning the enumeration (a client that goes away) frees it too.
        await foreach (var e in engine.GenerateAsync(new EngineRequest { Prompt = [1, 2, 3], Sampling = new SamplingParams { Temperature = 0, IgnoreEos = true, MaxTokens = 3000 } }))
            break;
        for (int i = 0; i < 100 && engine.KvCache.FreeBlocks != engine.KvCache.NumBlocks; i++) await Task.Delay(10);
        Assert.Equal(engine.KvCache.NumBlocks, engine.KvCache.FreeBlocks);
        Assert.Equal(0, engine.ActiveSequences);
    }

    [Fact]
    public async Task PrefixCacheReusesBlocksAndGivesTheSameOutput()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        using var engine = new InferenceEngine(model, null, new EngineOptions { KvCacheType = KvCacheType.F32 });
        var sampling = new SamplingParams { Temperature = 0, MaxTokens = 10, IgnoreEos = true };
        var prompt = Enumerable.Range(5, 70).ToArray();
        var first = await Collect(engine, new EngineRequest { Prompt = prompt, Sampling = sampling });
        var second = await Collect(engine, new EngineRequest { Prompt = prompt, Sampling = sampling });
        Assert.Equal(0, first.Final.CachedPromptTokens);
        Assert.Equal(64, second.Final.CachedPromptTokens); // 4 full blocks of 16; the last token is recomputed
        Assert.Equal(first.Tokens, second.Tokens);
        Assert.True(engine.PrefixCache!.HitTokens >= 64);
    }

    [Fact]
    public async Task EndTokensStopStringsAndMaxTokens()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        var tokenizer = QwenTokenizer.FromDirectory(Dir("qwen3-tiny"));
        using var engine = new InferenceEngine(model, tokenizer);
        int[] prompt = tokenizer.Encode("Hello there, how are you?");
        var free = await Collect(engine, new EngineRequest { Prompt = prompt, Sampling = new SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true } });
        Assert.Equal(30, free.Tokens.Count);
        Assert.Equal(FinishReason.Length, free.Final.Finish);
        Assert.Equal(tokenizer.Decode(free.Tokens.ToArray()), free.Text);

        // The 5th generated token as an end token.
        int eos = free.Tokens[4];
        var stopped = await Collect(engine, new EngineRequest { Prompt = prompt, EosTokenIds = [eos], Sampling = new SamplingParams { Temperature = 0, MaxTokens = 30 } });
        int at = free.Tokens.IndexOf(eos);
        Assert.Equal(FinishReason.Stop, stopped.Final.Finish);
        Assert.Equal(at + 1, stopped.Tokens.Count);
        Assert.Equal(tokenizer.Decode(free.Tokens.Take(at).ToArray()), stopped.Text);

        // A stop string spanning a token boundary: cut before it, never emitted.
        string full = free.Text;
        int start = Enumerable.Range(1, full.Length - 4).First(i => !char.IsSurrogate(full[i]) && !char.IsSurrogate(full[i + 2]) && full[..i].IndexOf(full.Substring(i, 3), StringComparison.Ordinal) < 0);
        string stop = full.Substring(start, 3);
        var s = await Collect(engine, new EngineRequest { Prompt = prompt, Sampling = new SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true, Stop = [stop] } });
        Assert.Equal(FinishReason.Stop, s.Final.Finish);
        Assert.Equal(full[..start], s.Text);
    }

    [Fact]
    public async Task ThinkingBudgetInjectsTheEndOfReasoning()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        var tokenizer = QwenTokenizer.FromDirectory(Dir("qwen3-tiny"));
        using var engine = new InferenceEngine(model, tokenizer);
        int open = tokenizer.TokenToId("<think>")!.Value, close = tokenizer.TokenToId("</think>")!.Value;
        var end = tokenizer.Encode(Qwen.ThinkingBudgetEndText, parseSpecialTokens: true);
        var prompt = tokenizer.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n", parseSpecialTokens: true);
        var r = await Collect(engine, new EngineRequest
        {
            Prompt = prompt,
            // The model must not close the reasoning itself here: bias </think> away.
            Sampling = new SamplingParams { Temperature = 0, MaxTokens = 200, IgnoreEos = true, LogitBias = new Dictionary<int, float> { [close] = -100, [open] = -100 } },
            ThinkingBudget = new ThinkingBudget(5, open, close, end, StartsInThinking: true),
        });
        Assert.Equal(end, r.Tokens.Skip(5).Take(end.Length));
        Assert.Contains("Considering the limited time by the user", r.Text);
        Assert.Contains("</think>", r.Text);
        Assert.Equal(1, r.Tokens.Count(t => t == close));
    }

    [Fact]
    public async Task BadRequestsAreRejectedUpFront()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        using var engine = new InferenceEngine(model, null, new EngineOptions { KvCacheTokens = 64, MaxQueuedRequests = 2 });
        await Assert.ThrowsAsync<ArgumentException>(async () => await Collect(engine, new EngineRequest { Prompt = [] }));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Collect(engine, new EngineRequest { Prompt = [99999] }));
        var tooLong = await Assert.ThrowsAsync<PromptTooLongException>(async () => await Collect(engine, new EngineRequest { Prompt = Enumerable.Range(1, 100).ToArray() }));
        Assert.Contains("100 tokens", tooLong.Message);
        await Assert.ThrowsAsync<ArgumentException>(async () => await Collect(engine, new EngineRequest { Prompt = [1], Sampling = new SamplingParams { TopP = 2 } }));
    }

    [Fact]
    public async Task FullQueueIsRefused()
    {
        using var model = QwenModel.Load(Dir("qwen3-tiny"));
        using var engine = new InferenceEngine(model, null, new EngineOptions { MaxSequences = 1, MaxQueuedRequests = 1 });
        var sampling = new SamplingParams { Temperature = 0, IgnoreEos = true, MaxTokens = 2000 };
        using var cts = new CancellationTokenSource();
        var running = Collect(engine, new EngineRequest { Prompt = [1, 2], Sampling = sampling }, cts.Token);
        for (int i = 0; i < 200 && engine.ActiveSequences == 0; i++) await Task.Delay(5);
        var waiting = Collect(engine, new EngineRequest { Prompt = [3, 4], Sampling = sampling }, cts.Token);
        await Assert.ThrowsAsync<EngineOverloadedException>(async () => await Collect(engine, new EngineRequest { Prompt = [5, 6], Sampling = sampling }));
        cts.Cancel();
        Assert.Equal(FinishReason.Cancelled, (await running).Final.Finish);
        Assert.Equal(FinishReason.Cancelled, (await waiting).Final.Finish);
    }
}
