namespace QwenSharp.Generation;

/// <summary>One candidate with its log-probability (for logprobs / top_logprobs).</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);

/// <summary>What the sampler picked, with the log-probabilities asked for.</summary>
public readonly record struct SampledToken(int TokenId, float Logprob, TokenLogprob[]? TopLogprobs);

/// <summary>
/// Per-sequence sampling state: the random generator (seeded) and the token counts the penalties need
/// (prompt + output for repetition_penalty, output only for presence/frequency penalties).
/// </summary>
public sealed class SamplingState
{
    internal readonly HashSet<int> Seen = [];
    internal readonly Dictionary<int, int> OutputCounts = [];
    internal readonly Random Random;

    public SamplingParams Params { get; }

    public SamplingState(SamplingParams parameters, ReadOnlySpan<int> prompt)
    {
        Params = parameters;
        // A seeded generator whose sequence is fixed by .NET's documented algorithm for Random(int).
        long seed = parameters.Seed ?? Random.Shared.NextInt64();
        Random = new Random(unchecked((int)(seed ^ (seed >> 32))));
        foreach (var t in prompt) Seen.Add(t);
    }

    /// <summary>Records a token that became part of the output (sampled or forced).</summary>
    /// <summary>Tokens accepted into the output so far.</summary>
    public int Generated { get; private set; }

    public void Accept(int token)
    {
        Generated++;
        Seen.Add(token);
        OutputCounts[token] = OutputCounts.GetValueOrDefault(token) + 1;
    }
}

/// <summary>
/// Turns logits into the next token, in transformers' order: logit_bias (OpenAI), repetition penalty
/// (transformers' rule), presence/frequency penalties (OpenAI's rule), then, unless temperature is 0
/// (greedy: argmax, lowest id on ties): temperature, top_k, top_p, min_p, and a draw from the remaining
/// distribution with the sequence's seeded generator. Reuses its buffers: one sampler per engine thread.
/// </summary>
public sealed class Sampler
{
    float[] _work = [];
    int[] _ids = [];
    float[] _probs = [];

    /// <summary>Picks the next token from <paramref name="logits"/> (one row of vocabulary logits).</summary>
    public SampledToken Sample(ReadOnlySpan<float> logits, SamplingState state, ReadOnlySpan<int> tokens = default)
    {
        var p = state.Params;
        var x = Process(logits, state);
        if (p.LogitsProcessors != null)
            foreach (var proc in p.LogitsProcessors) proc.Process(tokens, state.Generated, x);
        int chosen = (p.Temperature ?? 1f) == 0 ? ArgMax(x) : Draw(x, p, state.Random);

        if (!p.Logprobs && p.TopLogprobs == 0) return new SampledToken(chosen, 0, null);
        return WithLogprobs(logits, chosen, p.TopLogprobs);
    }

    /// <summary>The logits after logit_bias, repetition penalty and presence/frequency penalties (a view of a reused buffer).</summary>
    public Span<float> Process(ReadOnlySpan<float> logits, SamplingState state)
    {
        int vocab = logits.Length;
        if (_work.Length < vocab)
        {
            _work = new float[vocab];
            _ids = new int[vocab];
            _probs = new float[vocab];
        }
        var p = state.Params;
        var x = _work.AsSpan(0, vocab);
        logits.CopyTo(x);
        if (p.LogitBias != null)
            foreach (var (id, b) in p.LogitBias)
                if ((uint)id < (uint)vocab) x[id] += b;
        float rep = p.RepetitionPenalty ?? 1f;
        if (rep != 1f)
            foreach (var id in state.Seen)
                if ((uint)id < (uint)vocab) x[id] = x[id] < 0 ? x[id] * rep : x[id] / rep;
        float presence = p.PresencePenalty ?? 0f, frequency = p.FrequencyPenalty ?? 0f;
        if (presence != 0 || frequency != 0)
            foreach (var (id, count) in state.OutputCounts)
                if ((uint)id < (uint)vocab) x[id] -= presence + frequency * count;
        return x;
    }

    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        float bv = x[0];
        for (int i = 1; i < x.Length; i++) if (x[i] > bv) { bv = x[i]; best = i; }
        return best;
    }

    int Draw(Span<float> x, SamplingParams p, Random random)
    {
        int keep = Candidates(x, p, out bool all);
        if (keep == 0) return ArgMax(x);
        var probs = _probs;
        if (all)
        {
            // No cut-off: inverse CDF over all tokens in id order.
            double sum = 0;
            for (int i = 0; i < x.Length; i++) sum += probs[i];
            double u = random.NextDouble() * sum, acc = 0;
            for (int i = 0; i < x.Length; i++) { acc += probs[i]; if (acc > u) return i; }
            return ArgMax(x);
        }
        var cand = _ids;
        double total = 0;
        for (int i = 0; i < keep; i++) total += probs[cand[i]];
        double r = random.NextDouble() * total, a = 0;
        for (int i = 0; i < keep; i++) { a += probs[cand[i]]; if (a > r) return cand[i]; }
        return cand[keep - 1];
    }

    /// <summary>
    /// The distribution the next token is drawn from (after penalties, temperature and the cut-offs), as
    /// (token, probability) pairs: for tests and for explaining a choice. Greedy settings give one token.
    /// </summary>
    public List<(int TokenId, double Probability)> Distribution(ReadOnlySpan<float> logits, SamplingState state)
    {
        var x = Process(logits, state);
        var p = state.Params;
        if ((p.Temperature ?? 1f) == 0) return [(ArgMax(x), 1.0)];
        int keep = Candidates(x, p, out bool all);
        var result = new List<(int, double)>();
        if (all) for (int i = 0; i < x.Length; i++) result.Add((i, _probs[i]));
        else for (int i = 0; i < keep; i++) result.Add((_ids[i], _probs[_ids[i]]));
        double sum = result.Sum(r => r.Item2);
        return result.Select(r => (r.Item1, r.Item2 / sum)).ToList();
    }

    /// <summary>
    /// Applies temperature and computes unnormalized probabilities into _probs; then selects the tokens
    /// that survive top_k, top_p and min_p into _ids[0..keep), most likely first (ties: lower id first).
    /// <paramref name="all"/>: no cut-off applies and every token is a candidate (in id order).
    /// </summary>
    int Candidates(Span<float> x, SamplingParams p, out bool all)
    {
        int vocab = x.Length;
        float temperature = p.Temperature ?? 1f;
        if (temperature != 1f)
        {
            float inv = 1f / temperature;
            for (int i = 0; i < vocab; i++) x[i] *= inv;
        }
        all = false;
        float max = float.NegativeInfinity;
        for (int i = 0; i < vocab; i++) if (x[i] > max) max = x[i];
        if (float.IsNegativeInfinity(max)) return 0;
        double sum = 0;
        var probs = _probs.AsSpan(0, vocab);
        for (int i = 0; i < vocab; i++) { float e = MathF.Exp(x[i] - max); probs[i] = e; sum += e; }

        int topK = p.TopK ?? 0;
        float topP = p.TopP ?? 1f;
        float minP = p.MinP ?? 0f;
        if (topK <= 0 && topP >= 1f && minP <= 0f) { all = true; return vocab; }

        // Tokens that top_p would surely remove (probability below (1-top_p)/vocab/2 of the total), tokens
        // below min_p and tokens outside the top k are skipped before sorting; the sort sees only plausible ones.
        double floor = 0;
        if (topP < 1f) floor = Math.Max(floor, (1 - topP) / vocab / 2 * sum);
        if (minP > 0f) floor = Math.Max(floor, minP); // relative to the max token, whose value is 1
        if (topK > 0 && topK < vocab) floor = Math.Max(floor, KthLargest(probs, topK));
        int n = 0;
        var ids = _ids;
        for (int i = 0; i < vocab; i++) if (probs[i] >= floor) ids[n++] = i;
        var cand = ids.AsSpan(0, n);
        var pr = _probs;
        cand.Sort((a, b) => pr[a] != pr[b] ? pr[b].CompareTo(pr[a]) : a.CompareTo(b));

        int keep = n;
        if (topK > 0 && topK < keep)
        {
            // transformers keeps every token whose logit is at least the k-th largest (ties included).
            float kth = probs[cand[topK - 1]];
            keep = topK;
            while (keep < n && probs[cand[keep]] >= kth) keep++;
        }
        if (topP < 1f)
        {
            // transformers: sorted ascending, remove tokens whose cumulative probability (with all smaller
            // ones, renormalized over the tokens still in) is <= 1 - top_p; the most likely token stays.
            double keptSum = 0;
            for (int i = 0; i < keep; i++) keptSum += probs[cand[i]];
            double threshold = (1 - topP) * keptSum, fromBottom = 0;
            int cut = keep;
            for (int i = keep - 1; i >= 1; i--)
            {
                fromBottom += probs[cand[i]];
                if (fromBottom <= threshold) cut = i; else break;
            }
            keep = cut;
        }
        if (minP > 0f)
        {
            float top = probs[cand[0]];
            int m = 1;
            while (m < keep && probs[cand[m]] >= minP * top) m++;
            keep = m;
        }
        return keep;
    }

    int[] _heap = [];

    /// <summary>The k-th largest value of <paramref name="v"/> (a min-heap of size k).</summary>
    float KthLargest(ReadOnlySpan<float> v, int k)
    {
        if (_heap.Length < k) _heap = new int[k];
        var heap = _heap;
        var probs = _probs;
        int size = 0;
        for (int i = 0; i < v.Length; i++)
        {
            if (size < k)
            {
                int c = size++;
                heap[c] = i;
                while (c > 0) { int par = (c - 1) / 2; if (probs[heap[par]] <= probs[heap[c]]) break; (heap[par], heap[c]) = (heap[c], heap[par]); c = par; }
            }
            else if (v[i] > probs[heap[0]])
            {
                heap[0] = i;
                int c = 0;
                while (true)
                {
                    int l = 2 * c + 1, r = l + 1, m = c;
                    if (l < size && probs[heap[l]] < probs[heap[m]]) m = l;
                    if (r < size && probs[heap[r]] < probs[heap[m]]) m = r;
                    if (m == c) break;
                    (heap[m], heap[c]) = (heap[c], heap[m]);
                    c = m;
                }
            }
        }
        return probs[heap[0]];
    }

    /// <summary>Log-probabilities from the raw logits (before penalties and temperature), as vLLM reports them.</summary>
    static SampledToken WithLogprobs(ReadOnlySpan<float> logits, int chosen, int topN)
    {
        float max = float.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        float lse = (float)(max + Math.Log(sum));
        TokenLogprob[]? top = null;
        if (topN > 0)
        {
            // Partial selection of the topN largest.
            var best = new List<TokenLogprob>(topN + 1);
            for (int i = 0; i < logits.Length; i++)
            {
                float v = logits[i];
                if (best.Count == topN && v <= best[^1].Logprob) continue;
                int pos = best.Count;
                while (pos > 0 && v > best[pos - 1].Logprob) pos--;
                best.Insert(pos, new TokenLogprob(i, v));
                if (best.Count > topN) best.RemoveAt(topN);
            }
            top = best.Select(b => new TokenLogprob(b.TokenId, b.Logprob - lse)).ToArray();
        }
        return new SampledToken(chosen, logits[chosen] - lse, top);
    }
}
