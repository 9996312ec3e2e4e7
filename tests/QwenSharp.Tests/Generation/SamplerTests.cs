using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

/// <summary>Each sampling step against a direct computation on fixed logits (transformers' and OpenAI's rules).</summary>
public class SamplerTests
{
    static readonly float[] Logits = [2.0f, -1.0f, 0.5f, 3.0f, 3.0f, -2.5f, 1.0f, 0.0f];

    static SamplingState State(SamplingParams p, params int[] prompt) => new(p, prompt);

    /// <summary>Reference: the distribution computed the plain way (full sort, as transformers' warpers do).</summary>
    static Dictionary<int, double> Expected(float[] logits, float temperature, int topK = 0, float topP = 1, float minP = 0)
    {
        var x = logits.Select(v => (double)v / temperature).ToArray();
        var order = Enumerable.Range(0, x.Length).OrderByDescending(i => x[i]).ThenBy(i => i).ToList();
        var keep = new HashSet<int>(order);
        if (topK > 0)
        {
            double kth = x[order[topK - 1]];
            keep.RemoveWhere(i => x[i] < kth);
        }
        double Z(IEnumerable<int> s) => s.Sum(i => Math.Exp(x[i]));
        if (topP < 1)
        {
            var asc = order.Where(keep.Contains).Reverse().ToList();
            double z = Z(asc), cum = 0;
            for (int j = 0; j < asc.Count - 1; j++)
            {
                cum += Math.Exp(x[asc[j]]) / z;
                if (cum <= 1 - topP) keep.Remove(asc[j]);
            }
        }
        if (minP > 0)
        {
            double top = keep.Max(i => x[i]);
            keep.RemoveWhere(i => Math.Exp(x[i] - top) < minP);
        }
        double zz = Z(keep);
        return keep.ToDictionary(i => i, i => Math.Exp(x[i]) / zz);
    }

    static void AssertDistribution(Dictionary<int, double> expected, List<(int TokenId, double Probability)> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Select(a => a.TokenId).Order());
        foreach (var (id, p) in actual) Assert.Equal(expected[id], p, 1e-6);
    }

    [Fact]
    public void GreedyIsArgmaxWithLowestIdOnTies()
    {
        var s = new Sampler();
        Assert.Equal(3, s.Sample(Logits, State(SamplingParams.Greedy)).TokenId);
    }

    [Theory]
    [InlineData(1f, 0, 1f, 0f)]
    [InlineData(0.7f, 0, 1f, 0f)]
    [InlineData(1f, 3, 1f, 0f)]
    [InlineData(1f, 2, 1f, 0f)]   // tie at the k-th value keeps both 3.0s
    [InlineData(0.6f, 0, 0.9f, 0f)]
    [InlineData(1f, 0, 0.5f, 0f)]
    [InlineData(1f, 0, 1f, 0.2f)]
    [InlineData(0.6f, 5, 0.95f, 0.05f)]
    public void CutOffsMatchTransformers(float temperature, int topK, float topP, float minP)
    {
        var p = new SamplingParams { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP };
        AssertDistribution(Expected(Logits, temperature, topK, topP, minP), new Sampler().Distribution(Logits, State(p)));
    }

    [Fact]
    public void RepetitionPenaltyFollowsTransformersRule()
    {
        var p = new SamplingParams { RepetitionPenalty = 1.5f };
        var processed = new Sampler().Process(Logits, State(p, 0, 1, 1)).ToArray();
        Assert.Equal(2.0f / 1.5f, processed[0], 6);   // positive: divided
        Assert.Equal(-1.0f * 1.5f, processed[1], 6);  // negative: multiplied (once, though seen twice)
        Assert.Equal(Logits[2], processed[2]);
    }

    [Fact]
    public void PresenceAndFrequencyPenaltiesFollowOpenAiRule()
    {
        var p = new SamplingParams { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f };
        var state = State(p, 6); // prompt tokens do not count for these penalties
        state.Accept(3); state.Accept(3); state.Accept(2);
        var x = new Sampler().Process(Logits, state).ToArray();
        Assert.Equal(3.0f - 0.5f - 2 * 0.25f, x[3], 6);
        Assert.Equal(0.5f - 0.5f - 0.25f, x[2], 6);
        Assert.Equal(Logits[6], x[6]);
    }

    [Fact]
    public void LogitBiasIsAddedFirst()
    {
        var p = new SamplingParams { Temperature = 0, LogitBias = new Dictionary<int, float> { [5] = 100f } };
        Assert.Equal(5, new Sampler().Sample(Logits, State(p)).TokenId);
    }

    [Fact]
    public void DrawsFollowTheDistribution()
    {
        var p = new SamplingParams { Temperature = 0.8f, TopP = 0.9f };
        var expected = Expected(Logits, 0.8f, topP: 0.9f);
        var counts = new Dictionary<int, int>();
        var sampler = new Sampler();
        const int n = 20000;
        for (int i = 0; i < n; i++)
        {
            int t = sampler.Sample(Logits, State(p with { Seed = i })).TokenId;
            counts[t] = counts.GetValueOrDefault(t) + 1;
        }
        Assert.True(counts.Keys.All(expected.ContainsKey));
        foreach (var (id, prob) in expected)
            Assert.InRange(counts.GetValueOrDefault(id) / (double)n, prob - 0.02, prob + 0.02);
    }

    [Fact]
    public void SameSeedSameTokens()
    {
        var p = new SamplingParams { Temperature = 1f, Seed = 1234 };
        var a = new Sampler();
        var b = new Sampler();
        var sa = State(p);
        var sb = State(p);
        for (int i = 0; i < 50; i++) Assert.Equal(a.Sample(Logits, sa).TokenId, b.Sample(Logits, sb).TokenId);
    }

    [Fact]
    public void LogprobsAreFromTheRawDistribution()
    {
        var p = new SamplingParams { Temperature = 0, Logprobs = true, TopLogprobs = 3 };
        var r = new Sampler().Sample(Logits, State(p));
        double lse = Math.Log(Logits.Sum(v => Math.Exp(v)));
        Assert.Equal(3.0 - lse, r.Logprob, 5);
        Assert.Equal(new[] { 3, 4, 0 }, r.TopLogprobs!.Select(t => t.TokenId));
        Assert.Equal(2.0 - lse, r.TopLogprobs![2].Logprob, 5);
    }

    [Fact]
    public void BadParametersNameTheParameter()
    {
        Assert.Contains("top_p", Assert.Throws<ArgumentException>(() => new SamplingParams { TopP = 1.5f }.Validate()).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentException>(() => new SamplingParams { Temperature = -1 }.Validate()).Message);
        Assert.Contains("top_logprobs", Assert.Throws<ArgumentException>(() => new SamplingParams { TopLogprobs = 50 }.Validate()).Message);
        Assert.Contains("logit_bias", Assert.Throws<ArgumentException>(() => new SamplingParams { LogitBias = new Dictionary<int, float> { [1] = 500 } }.Validate()).Message);
    }
}
