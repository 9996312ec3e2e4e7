using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Tokenization;

namespace QwenSharp.Engine;

/// <summary>
/// Runs generation requests with continuous batching: one engine thread loops over steps; each step
/// runs one batched forward pass holding one token of every decoding sequence plus chunks of prompts
/// still being prefilled (long prompts are split so running streams keep flowing); new requests join
/// between steps; finished, cancelled and disconnected sequences leave at once and their KV blocks are
/// freed (or kept in the prefix cache for reuse). When the KV cache runs out, the most recently admitted
/// sequence is preempted and later recomputed, its output continuing where it stopped.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    readonly QwenModel _model;
    readonly QwenTokenizer? _tokenizer;
    readonly EngineOptions _options;
    readonly WorkerPool _pool;
    readonly bool _ownsPool;
    readonly KvCache _cache;
    readonly PrefixCache? _prefixCache;
    readonly ForwardContext _ctx;
    readonly Sampler _sampler = new();
    readonly ForwardBatch _batch = new();
    readonly Thread _thread;
    readonly SemaphoreSlim _signal = new(0);
    readonly System.Collections.Concurrent.ConcurrentQueue<Seq> _incoming = new();
    readonly LinkedList<Seq> _waiting = new();
    readonly List<Seq> _running = [];
    readonly List<(Seq Seq, int Row)> _outputs = [];
    float[] _logits = [];
    volatile bool _stopping;
    int _queued;
    long _admitCounter;

    public QwenModel Model => _model;
    public QwenTokenizer? Tokenizer => _tokenizer;
    public EngineOptions Options => _options;
    public KvCache KvCache => _cache;
    public PrefixCache? PrefixCache => _prefixCache;

    /// <summary>Longest sequence (prompt + output) in tokens.</summary>
    public int MaxSequenceLength { get; }

    // ---- live figures (for /metrics) ----
    public int QueuedRequests => Volatile.Read(ref _queued);
    public int ActiveSequences { get; private set; }
    public long TotalPromptTokens => Interlocked.Read(ref _promptTokens);
    public long TotalCompletionTokens => Interlocked.Read(ref _completionTokens);
    public double KvCacheUsage => _cache.NumBlocks == 0 ? 0 : (double)_cache.UsedBlocks / _cache.NumBlocks;
    long _promptTokens, _completionTokens;

    public InferenceEngine(QwenModel model, QwenTokenizer? tokenizer, EngineOptions? options = null, WorkerPool? pool = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _options = options ?? new EngineOptions();
        if (_options.MaxBatchTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxBatchTokens must be at least 1");
        if (_options.MaxSequences < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxSequences must be at least 1");
        _ownsPool = pool is null && _options.Threads is not null;
        _pool = pool ?? (_options.Threads is { } t ? new WorkerPool(t) : WorkerPool.Shared);
        long kvTokens = _options.KvCacheTokens ?? Math.Min(model.Config.MaxPositionEmbeddings, 32768);
        _cache = model.CreateKvCache(kvTokens, _options.KvCacheType);
        MaxSequenceLength = (int)Math.Min(model.Config.MaxPositionEmbeddings, _cache.Capacity);
        if (_options.PrefixCaching) _prefixCache = new PrefixCache(_cache);
        _ctx = model.CreateContext(_pool);
        _thread = new Thread(Loop) { IsBackground = true, Name = "qwensharp-engine" };
        _thread.Start();
    }

    /// <summary>
    /// Submits a request and streams its events: one per generated token, then a final one with the
    /// finish reason and usage. Cancelling <paramref name="ct"/> (or abandoning the enumeration) stops
    /// the sequence and frees its KV cache.
    /// </summary>
    public async IAsyncEnumerable<EngineEvent> GenerateAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var seq = Submit(request, ct);
        try
        {
            await foreach (var e in seq.Output.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                yield return e;
                if (e.Finish != null) yield break;
            }
        }
        finally
        {
            if (!seq.Done) { seq.Cancelled = true; _signal.Release(); }
        }
    }

    Seq Submit(EngineRequest request, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        request.Sampling.Validate();
        if (request.Prompt.Length == 0) throw new ArgumentException("the prompt is empty", nameof(request));
        int vocab = _model.Config.VocabSize;
        foreach (var t in request.Prompt)
            if ((uint)t >= (uint)vocab) throw new ArgumentException($"prompt token id {t} is outside the vocabulary (0..{vocab - 1})", nameof(request));
        if (request.Prompt.Length >= MaxSequenceLength)
            throw new PromptTooLongException($"the prompt has {request.Prompt.Length} tokens; this server's limit is {MaxSequenceLength - 1} (context length {MaxSequenceLength})");
        if (Interlocked.Increment(ref _queued) > _options.MaxQueuedRequests)
        {
            Interlocked.Decrement(ref _queued);
            throw new EngineOverloadedException($"{_options.MaxQueuedRequests} requests are already waiting; try again later");
        }
        var seq = new Seq(request, _tokenizer)
        {
            Output = Channel.CreateUnbounded<EngineEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true }),
            Submitted = Stopwatch.GetTimestamp(),
        };
        if (ct.CanBeCanceled) seq.Registration = ct.Register(() => { seq.Cancelled = true; _signal.Release(); });
        _incoming.Enqueue(seq);
        _signal.Release();
        return seq;
    }

    // ================================================================================================
    // The engine thread
    // ================================================================================================

    void Loop()
    {
        while (!_stopping)
        {
            while (_incoming.TryDequeue(out var s)) _waiting.AddLast(s);
            DropCancelled();
            Admit();
            ActiveSequences = _running.Count;
            if (_running.Count == 0)
            {
                _signal.Wait(100);
                continue;
            }
            try
            {
                Step();
            }
            catch (Exception e)
            {
                // A failed step fails the sequences in it; the engine keeps serving others.
                foreach (var s in _running.ToArray()) Finish(s, FinishReason.Error, e);
            }
        }
        foreach (var s in _running.ToArray()) Finish(s, FinishReason.Cancelled);
        foreach (var s in _waiting) Finish(s, FinishReason.Cancelled);
        _waiting.Clear();
    }

    void DropCancelled()
    {
        for (var node = _waiting.First; node != null;)
        {
            var next = node.Next;
            if (node.Value.Cancelled) { _waiting.Remove(node); Finish(node.Value, FinishReason.Cancelled); }
            node = next;
        }
        for (int i = _running.Count - 1; i >= 0; i--)
            if (_running[i].Cancelled) Finish(_running[i], FinishReason.Cancelled);
    }

    void Admit()
    {
        while (_waiting.First is { } node && _running.Count < _options.MaxSequences)
        {
            var s = node.Value;
            // Room for the tokens to feed now (at least one block of headroom), counting blocks the prefix cache can give back.
            int needBlocks = (s.Tokens.Count + _cache.BlockSize) / _cache.BlockSize;
            if (_running.Count > 0 && needBlocks > _cache.FreeBlocks + (_prefixCache?.CachedBlocks ?? 0)) break;
            _waiting.RemoveFirst();
            if (s.Kv is null)
            {
                s.Kv = _cache.CreateSequence();
                s.Kv.AdapterSlot = s.Request.AdapterSlot;
                if (_prefixCache != null)
                {
                    int adopted = _prefixCache.Adopt(s.Kv, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens), s.Request.AdapterSlot);
                    if (!s.Started) s.CachedPromptTokens = adopted;
                }
            }
            if (!s.Started)
            {
                s.Started = true;
                Interlocked.Decrement(ref _queued);
                Interlocked.Add(ref _promptTokens, s.PromptLength);
            }
            s.AdmitOrder = ++_admitCounter;
            _running.Add(s);
        }
    }

    /// <summary>Runs after every forward pass on the engine thread: tests use it to stand in for a slower model, so
    /// that what they check does not depend on how fast the kernels are.</summary>
    internal Action? AfterForward { get; set; }

    void Step()
    {
        _batch.Clear();
        _outputs.Clear();
        int budget = _options.MaxBatchTokens;
        // Decoding sequences (one token each) first, then prompt chunks, oldest first.
        _running.Sort((a, b) => (a.ToFeed == 1 ? 0 : 1).CompareTo(b.ToFeed == 1 ? 0 : 1) is var c && c != 0 ? c : a.AdmitOrder.CompareTo(b.AdmitOrder));
        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var s = _running[i];
            int start = s.Kv!.Length;
            int take = Math.Min(s.ToFeed, budget);
            if (take <= 0) continue;
            if (!TryReserve(s, start + take, i)) { i--; continue; } // s itself may have been preempted
            for (int k = 0; k < take; k++)
            {
                int pos = start + k;
                bool last = pos == s.Tokens.Count - 1;
                if (last) _outputs.Add((s, _batch.OutputCount));
                _batch.Add(s.Kv, s.Tokens[pos], pos, last);
            }
            budget -= take;
        }
        if (_batch.Count == 0) return;

        int vocab = _model.Config.VocabSize;
        long need = (long)_batch.OutputCount * vocab;
        if (_logits.Length < need) _logits = new float[need];
        _model.Forward(_ctx, _batch, _logits);
        AfterForward?.Invoke();

        foreach (var (s, row) in _outputs)
        {
            if (s.Done) continue;
            var logits = _logits.AsSpan(row * vocab, vocab);
            OnLogits(s, logits);
        }
    }

    /// <summary>Reserves KV room for s up to <paramref name="length"/>, preempting later-admitted sequences
    /// when the cache is full. False when s itself had to be preempted or finished.</summary>
    bool TryReserve(Seq s, int length, int index)
    {
        while (true)
        {
            try
            {
                s.Kv!.Reserve(length);
                return true;
            }
            catch (KvCacheFullException)
            {
                // Preempt the most recently admitted sequence not yet in this batch.
                int victim = -1;
                for (int j = _running.Count - 1; j > index; j--)
                    if (victim < 0 || _running[j].AdmitOrder > _running[victim].AdmitOrder) victim = j;
                if (victim < 0)
                {
                    if (_running.Count == 1 || index == 0 && _batch.Count == 0)
                    {
                        // Alone and still no room: this sequence cannot grow in this cache.
                        Finish(s, FinishReason.Length);
                        return false;
                    }
                    victim = index;
                }
                Preempt(_running[victim]);
                if (victim == index) return false;
            }
        }
    }

    void Preempt(Seq s)
    {
        _running.Remove(s);
        s.Kv!.Dispose();
        s.Kv = null;
        _waiting.AddFirst(s);
    }

    void OnLogits(Seq s, ReadOnlySpan<float> logits)
    {
        var req = s.Request;
        SampledToken sampled = _sampler.Sample(logits, s.Sampling, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens));
        if (s.Generated == 0) s.FirstToken = Stopwatch.GetTimestamp();
        if (s.Generated == 0 && s.CachedPromptTokens == 0 && _prefixCache != null)
            _prefixCache.Register(s.Kv!, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens), req.AdapterSlot);
        Emit(s, sampled.TokenId, sampled.Logprob, sampled.TopLogprobs, forced: false);
        if (s.Done) return;

        // Thinking budget: once spent, inject the end-of-thinking text; it is fed in the next step.
        if (req.ThinkingBudget is { } tb && s.InThinking && s.ReasoningTokens >= tb.Budget && !s.BudgetSpent)
        {
            s.BudgetSpent = true;
            foreach (var t in tb.EndTokens)
            {
                Emit(s, t, 0, null, forced: true);
                if (s.Done) return;
            }
        }
    }

    /// <summary>Appends a token to s's output, emits its text, and finishes s when it ends generation.</summary>
    void Emit(Seq s, int token, float logprob, TokenLogprob[]? top, bool forced)
    {
        var req = s.Request;
        s.Tokens.Add(token);
        s.Generated++;
        s.Sampling.Accept(token);
        Interlocked.Increment(ref _completionTokens);
        if (req.ThinkingBudget is { } tb)
        {
            if (token == tb.ThinkOpenId) s.InThinking = true;
            else if (token == tb.ThinkCloseId) s.InThinking = false;
            else if (s.InThinking) s.ReasoningTokens++;
        }
        bool eos = !req.Sampling.IgnoreEos && (req.EosTokenIds.Contains(token) || (req.Sampling.StopTokenIds?.Contains(token) ?? false));
        string text = "";
        if (!eos && s.Decoder != null)
            text = s.Stop.Push(s.Decoder.Append(token));
        s.Output.Writer.TryWrite(new EngineEvent { TokenId = token, Text = text, Logprob = logprob, TopLogprobs = top, Forced = forced });
        if (eos || s.Stop.Stopped) Finish(s, FinishReason.Stop);
        else if (req.Sampling.MaxTokens is { } max && s.Generated >= max) Finish(s, FinishReason.Length);
        else if (s.Tokens.Count >= MaxSequenceLength) Finish(s, FinishReason.Length);
    }

    void Finish(Seq s, FinishReason reason, Exception? error = null)
    {
        if (s.Done) return;
        s.Done = true;
        _running.Remove(s);
        if (!s.Started) { s.Started = true; Interlocked.Decrement(ref _queued); }
        string rest = "";
        if (reason is FinishReason.Length or FinishReason.Stop && !s.Stop.Stopped && s.Decoder != null)
            rest = s.Stop.Push(s.Decoder.Flush()) + s.Stop.Flush();
        if (s.Kv != null)
        {
            if (_prefixCache != null && reason != FinishReason.Error)
                _prefixCache.Register(s.Kv, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Tokens), s.Request.AdapterSlot);
            s.Kv.Dispose();
            s.Kv = null;
        }
        s.Registration.Dispose();
        double ttft = s.FirstToken == 0 ? 0 : Stopwatch.GetElapsedTime(s.Submitted, s.FirstToken).TotalSeconds;
        s.Output.Writer.TryWrite(new EngineEvent
        {
            Text = rest,
            Finish = reason,
            Error = error,
            PromptTokens = s.PromptLength,
            CompletionTokens = s.Generated,
            CachedPromptTokens = s.CachedPromptTokens,
            TimeToFirstToken = ttft,
        });
        s.Output.Writer.TryComplete();
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _signal.Release();
        _thread.Join();
        _prefixCache?.Clear();
        _ctx.Dispose();
        _cache.Dispose();
        if (_ownsPool) _pool.Dispose();
        _signal.Dispose();
    }

    /// <summary>State of one sequence on the engine thread.</summary>
    sealed class Seq
    {
        public Seq(EngineRequest request, QwenTokenizer? tokenizer)
        {
            Request = request;
            Tokens = new List<int>(request.Prompt.Length + 64);
            Tokens.AddRange(request.Prompt);
            PromptLength = request.Prompt.Length;
            Sampling = new SamplingState(request.Sampling, request.Prompt);
            Decoder = tokenizer?.CreateIncrementalDecoder(request.SkipSpecialTokens);
            Stop = new StopStringMatcher(request.Sampling.Stop ?? []);
            InThinking = request.ThinkingBudget?.StartsInThinking ?? false;
        }

        public EngineRequest Request { get; }
        public List<int> Tokens { get; }
        public int PromptLength { get; }
        public SamplingState Sampling { get; }
        public IncrementalDecoder? Decoder { get; }
        public StopStringMatcher Stop { get; }
        public required Channel<EngineEvent> Output { get; init; }
        public required long Submitted { get; init; }
        public CancellationTokenRegistration Registration;
        public KvSequence? Kv;
        public volatile bool Cancelled;
        public bool Done, Started, InThinking, BudgetSpent;
        public int Generated, ReasoningTokens, CachedPromptTokens;
        public long AdmitOrder, FirstToken;

        /// <summary>Tokens known but not yet in the KV cache.</summary>
        public int ToFeed => Tokens.Count - (Kv?.Length ?? 0);
    }
}

/// <summary>The prompt does not fit the context (HTTP 400).</summary>
public sealed class PromptTooLongException(string message) : ArgumentException(message);
