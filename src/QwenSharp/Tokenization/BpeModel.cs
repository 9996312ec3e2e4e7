using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>
/// Hugging Face's byte-level BPE model: the vocabulary, the ranked merges and the merge loop. A pre-token
/// (one piece of the pre-tokenizer's output, as text) becomes its UTF-8 bytes, one symbol per byte (the
/// byte-level alphabet char's id), then the adjacent pair with the lowest merge rank is merged, leftmost
/// first, until no pair merges. Results are cached per pre-token, as Hugging Face does.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Above this many bytes a word is merged with a heap (O(n log n)); below, by scanning (faster for short words).</summary>
    internal const int HeapThreshold = 96;
    const int MaxCachedChars = 64;

    readonly Lazy<Dictionary<string, int>> _vocab;
    readonly int[] _byteIds = new int[256];
    readonly MergeTable _merges;
    readonly bool _ignoreMerges;
    readonly WordCache _cache = new();

    /// <summary>Token string of each id of the model vocabulary (null for ids it does not use).</summary>
    public string?[] IdToToken { get; }
    /// <summary>Ids by token string (built on first use: encoding does not need it).</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab.Value;
    public int MergeCount => _merges.Count;

    internal bool CacheEnabled { get; set; } = true;

    /// <param name="idToToken">The token string of each id (null where none).</param>
    /// <param name="merges">The ranked merges, over these ids.</param>
    /// <param name="ignoreMerges">Hugging Face's ignore_merges: a word that is itself a token is that token.</param>
    /// <param name="vocab">Ids by string when the source has them already (a GGUF, where of two equal strings the later id
    /// wins); else built from <paramref name="idToToken"/> when first needed.</param>
    public BpeModel(string?[] idToToken, MergeTable merges, bool ignoreMerges, Dictionary<string, int>? vocab = null)
    {
        IdToToken = idToToken;
        _merges = merges;
        _ignoreMerges = ignoreMerges;
        _vocab = vocab != null ? new Lazy<Dictionary<string, int>>(vocab) : new Lazy<Dictionary<string, int>>(() => BuildVocab(idToToken));
        Array.Fill(_byteIds, -1);
        if (vocab != null)
        {
            for (int b = 0; b < 256; b++)
                _byteIds[b] = vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out int id) ? id : -1;
        }
        else
        {
            for (int id = 0; id < idToToken.Length; id++)
                if (idToToken[id] is { Length: 1 } t && ByteLevel.CharToByte(t[0]) is int b and >= 0) _byteIds[b] = id;
        }
        _mergesAreLayered = merges.IsLayered(idToToken.Length);
    }

    static Dictionary<string, int> BuildVocab(string?[] idToToken)
    {
        var d = new Dictionary<string, int>(idToToken.Length, StringComparer.Ordinal);
        for (int id = 0; id < idToToken.Length; id++)
            if (idToToken[id] is { } t) d[t] = id;
        return d;
    }

    /// <summary>True when every merge that uses a token ranks after every merge that makes it (as in any learned
    /// BPE, Qwen's included): then merging never creates a pair of the rank being merged or lower.</summary>
    readonly bool _mergesAreLayered;
    internal bool MergesAreLayered => _mergesAreLayered;

    /// <summary>True when every byte has a token (always so for Qwen: the 256 alphabet chars are its first tokens).</summary>
    public bool CoversAllBytes => Array.IndexOf(_byteIds, -1) < 0;

    internal void ClearCache() => _cache.Clear();

    /// <summary>Appends the ids of one pre-token.</summary>
    public void Tokenize(ReadOnlySpan<char> piece, List<int> output, EncoderScratch scratch)
    {
        if (piece.IsEmpty) return;
        if (CacheEnabled && piece.Length <= MaxCachedChars && _cache.Get(piece) is { } cached)
        {
            output.AddRange(cached);
            return;
        }
        int byteCount = piece.Length <= 4096 ? Encoding.UTF8.GetMaxByteCount(piece.Length) : Encoding.UTF8.GetByteCount(piece);
        var bytes = scratch.Bytes(byteCount);
        byteCount = Encoding.UTF8.GetBytes(piece, bytes);

        if (_ignoreMerges)
        {
            var chars = scratch.Chars(byteCount);
            for (int i = 0; i < byteCount; i++) chars[i] = ByteLevel.ByteToChar[bytes[i]];
            if (_vocab.Value.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars.AsSpan(0, byteCount), out int whole))
            {
                output.Add(whole);
                return;
            }
        }

        var symbols = scratch.Symbols(byteCount);
        int n = 0;
        for (int i = 0; i < byteCount; i++)
        {
            int id = _byteIds[bytes[i]];
            if (id >= 0) symbols[n++] = id; // Hugging Face drops a char that is not in the vocabulary when there is no unk token
        }
        int start = output.Count;
        if (n <= HeapThreshold) MergeByScanning(symbols, n, output, scratch);
        else if (_mergesAreLayered) MergeByRankSweep(symbols, n, output);
        else MergeWithHeap(symbols, n, output);

        if (CacheEnabled && piece.Length <= MaxCachedChars)
            _cache.Set(piece, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[start..].ToArray());
    }

    /// <summary>Merges by scanning for the lowest rank: O(n²), fastest for the short words that make up most text.</summary>
    internal void MergeByScanning(int[] sym, int n, List<int> output, EncoderScratch scratch)
    {
        if (n == 0) return;
        var rank = scratch.Ranks(n);
        var merged = scratch.Merged(n);
        for (int i = 0; i < n - 1; i++)
        {
            int r = _merges.TryGet(sym[i], sym[i + 1], out merged[i]);
            rank[i] = r < 0 ? int.MaxValue : r;
        }
        while (n > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i < n - 1; i++)
                if (rank[i] < bestRank) { bestRank = rank[i]; best = i; }
            if (best < 0) break;
            sym[best] = merged[best];
            // Remove symbol best+1 (and its pair entry).
            int tail = n - best - 2;
            if (tail > 0)
            {
                Array.Copy(sym, best + 2, sym, best + 1, tail);
                Array.Copy(rank, best + 2, rank, best + 1, tail);
                Array.Copy(merged, best + 2, merged, best + 1, tail);
            }
            n--;
            if (best < n - 1)
            {
                int r = _merges.TryGet(sym[best], sym[best + 1], out merged[best]);
                rank[best] = r < 0 ? int.MaxValue : r;
            }
            if (best > 0)
            {
                int r = _merges.TryGet(sym[best - 1], sym[best], out merged[best - 1]);
                rank[best - 1] = r < 0 ? int.MaxValue : r;
            }
        }
        for (int i = 0; i < n; i++) output.Add(sym[i]);
    }

    /// <summary>
    /// Merges with a min-heap of (rank, position), as Hugging Face's <c>Word::merge_all</c> does: O(n log n),
    /// used for long words (a 1 MB word, megabytes of spaces). Positions are those of the left symbol,
    /// so equal ranks merge leftmost first; an entry whose pair has changed since it was queued is skipped.
    /// </summary>
    internal void MergeWithHeap(int[] symbols, int n, List<int> output)
    {
        if (n == 0) return;
        var id = new int[n];
        Array.Copy(symbols, id, n);
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1; }
        var heap = new MinHeap(n);
        for (int i = 0; i < n - 1; i++)
        {
            int r = _merges.TryGet(id[i], id[i + 1], out _);
            if (r >= 0) heap.Push((long)r << 32 | (uint)i);
        }
        while (heap.Count > 0)
        {
            long top = heap.Pop();
            int rank = (int)(top >> 32), p = (int)(uint)top;
            if (id[p] < 0) continue;
            int q = next[p];
            if (q >= n) continue;
            if (_merges.TryGet(id[p], id[q], out int m) != rank) continue; // stale entry
            id[p] = m;
            id[q] = -1;
            int after = next[q];
            next[p] = after;
            if (after < n) prev[after] = p;
            int before = prev[p];
            if (before >= 0)
            {
                int r = _merges.TryGet(id[before], m, out _);
                if (r >= 0) heap.Push((long)r << 32 | (uint)before);
            }
            if (after < n)
            {
                int r = _merges.TryGet(m, id[after], out _);
                if (r >= 0) heap.Push((long)r << 32 | (uint)p);
            }
        }
        for (int i = 0; i < n; i = next[i]) output.Add(id[i]);
    }

    /// <summary>
    /// The heap loop's result, computed rank by rank: all pairs of the lowest pending rank are merged in one
    /// left-to-right sweep, then the next rank. When the merges are layered (<see cref="MergeTable.IsLayered"/>)
    /// a merge only creates pairs of higher ranks, so this is exactly the (rank, position) order of the heap,
    /// with sequential memory access: megabytes of spaces merge in a fraction of a second.
    /// </summary>
    internal void MergeByRankSweep(int[] symbols, int n, List<int> output)
    {
        if (n == 0) return;
        var id = new int[n];
        Array.Copy(symbols, id, n);
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1; }
        var buckets = new Dictionary<int, List<int>>();
        var pendingRanks = new MinHeap(64);
        void Add(int rank, int pos)
        {
            if (!buckets.TryGetValue(rank, out var list))
            {
                buckets[rank] = list = new List<int>();
                pendingRanks.Push(rank);
            }
            list.Add(pos);
        }
        for (int i = 0; i < n - 1; i++)
        {
            int r = _merges.TryGet(id[i], id[i + 1], out _);
            if (r >= 0) Add(r, i);
        }
        while (pendingRanks.Count > 0)
        {
            int rank = (int)pendingRanks.Pop();
            var positions = buckets[rank];
            buckets.Remove(rank);
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(positions);
            bool sorted = true;
            for (int i = 1; i < span.Length && sorted; i++) sorted = span[i - 1] < span[i];
            if (!sorted) span.Sort();
            foreach (int p in span)
            {
                if (id[p] < 0) continue;
                int q = next[p];
                if (q >= n) continue;
                if (_merges.TryGet(id[p], id[q], out int m) != rank) continue; // no longer this pair
                id[p] = m;
                id[q] = -1;
                int after = next[q];
                next[p] = after;
                if (after < n) prev[after] = p;
                int before = prev[p];
                if (before >= 0)
                {
                    int r = _merges.TryGet(id[before], m, out _);
                    if (r >= 0) Add(r, before);
                }
                if (after < n)
                {
                    int r = _merges.TryGet(m, id[after], out _);
                    if (r >= 0) Add(r, p);
                }
            }
        }
        for (int i = 0; i < n; i = next[i]) output.Add(id[i]);
    }

    /// <summary>Binary min-heap of longs.</summary>
    sealed class MinHeap(int capacity)
    {
        long[] _a = new long[Math.Max(4, capacity)];
        public int Count { get; private set; }

        public void Push(long v)
        {
            if (Count == _a.Length) Array.Resize(ref _a, _a.Length * 2);
            int i = Count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (_a[parent] <= v) break;
                _a[i] = _a[parent];
                i = parent;
            }
            _a[i] = v;
        }

        public long Pop()
        {
            long top = _a[0];
            long last = _a[--Count];
            int i = 0, n = Count;
            while (true)
            {
                int c = 2 * i + 1;
                if (c >= n) break;
                if (c + 1 < n && _a[c + 1] < _a[c]) c++;
                if (_a[c] >= last) break;
                _a[i] = _a[c];
                i = c;
            }
            if (n > 0) _a[i] = last;
            return top;
        }
    }
}
