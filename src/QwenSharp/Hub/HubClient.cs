namespace QwenSharp.Hub;

/// <summary>
/// Downloads model repositories from the Hugging Face Hub or ModelScope into the shared cache
/// (<see cref="HubCache"/>): lists the files of a revision, keeps those the include/exclude patterns select,
/// reuses what the cache already has (also files put there by Python's huggingface_hub), downloads the rest in
/// parallel with resume and hash verification (<see cref="BlobDownloader"/>), links them into the snapshot
/// folder and finally records the revision under refs/.
/// </summary>
public sealed class HubClient : IDisposable
{
    static readonly string[] DuplicateWeightPatterns = ["*.bin", "*.pth", "*.pt", "*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data"];

    readonly HttpClient _http;
    readonly bool _ownsHttp;

    /// <param name="http">An HttpClient to use (its handler should not follow redirects itself); default: one made here.</param>
    public HubClient(HttpClient? http = null)
    {
        _http = http ?? HubHttp.CreateClient();
        _ownsHttp = http == null;
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    /// <summary>The source the options (or the environment) select.</summary>
    public IRepoSource CreateSource(PullOptions options)
    {
        var env = options.Environment ?? HubEnvironment.Current;
        var kind = options.Source ?? env.Source;
        return kind == HubSource.ModelScope
            ? new ModelScopeSource(_http, options.Endpoint ?? env.ModelScopeEndpoint, options.Token ?? env.ModelScopeToken)
            : new HuggingFaceSource(_http, options.Endpoint ?? env.Endpoint, options.Token ?? env.Token);
    }

    /// <summary>
    /// Downloads <paramref name="repo"/> ("Owner/Name" or "Owner/Name@revision") into the cache and returns its
    /// snapshot folder. Files already cached are not downloaded again. In offline mode (HF_HUB_OFFLINE or
    /// <see cref="PullOptions.Offline"/>) the cached snapshot is returned, or a clear error when it is missing.
    /// </summary>
    public async Task<PullResult> PullAsync(string repo, PullOptions? options = null, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        options ??= new PullOptions();
        var env = options.Environment ?? HubEnvironment.Current;
        var id = RepoId.Parse(repo, out var revInText);
        if (options.Revision != null && revInText != null && options.Revision != revInText)
            throw new HubException(HubErrorKind.InvalidArgument, $"{id}: two revisions given ('{revInText}' and --revision '{options.Revision}')");
        string? revision = options.Revision ?? revInText;
        if (revision != null && !RepoId.IsValidRevision(revision))
            throw new HubException(HubErrorKind.InvalidArgument, $"{id}: invalid revision '{revision}'");
        if (options.Parallelism is < 1 or > 64)
            throw new HubException(HubErrorKind.InvalidArgument, $"parallelism must be between 1 and 64 (got {options.Parallelism})");
        var include = options.Include.Select(p => new GlobPattern(p)).ToList();
        var exclude = options.Exclude.Select(p => new GlobPattern(p)).ToList();
        var cache = new HubCache(options.CacheDir ?? env.CacheDir);
        var kind = options.Source ?? env.Source;

        bool offline = options.Offline ?? env.Offline;
        if (offline) return FromCache(cache, id, revision, include, exclude, kind);

        var source = CreateSource(options);
        revision ??= source.DefaultRevision;
        var snapshot = await source.GetSnapshotAsync(id, revision, ct).ConfigureAwait(false);
        var files = Select(snapshot, include, exclude, options.RequireGgufSelection);

        var plan = new List<(RemoteFile file, string? cachedPath)>();
        foreach (var f in files)
        {
            string? present = cache.TryGetSnapshotFile(id, snapshot.Commit, f.Path, f.Size);
            if (present == null && cache.TryGetBlob(id, f.BlobName, f.Size) != null)
                present = cache.LinkSnapshotFile(id, snapshot.Commit, f.Path, f.BlobName!);
            plan.Add((f, present));
        }

        var tracker = new ProgressTracker(progress, plan.Count, plan.Where(p => p.cachedPath == null).Sum(p => p.file.Size ?? 0));
        tracker.Report(DownloadStage.Started, "", 0, 0);
        foreach (var (f, cached) in plan.Where(p => p.cachedPath != null))
            tracker.FileDone(DownloadStage.FileCached, f.Path, f.Size ?? 0);

        var downloader = new BlobDownloader(_http, source, options.MaxRetries);
        var toDownload = plan.Where(p => p.cachedPath == null).Select(p => p.file).ToList();
        var blobLocks = new Dictionary<string, SemaphoreSlim>(StringComparer.Ordinal);
        long downloaded = 0;

        await Parallel.ForEachAsync(toDownload, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = ct }, async (f, token) =>
        {
            var location = await source.GetLocationAsync(snapshot, f, token).ConfigureAwait(false);
            if (f.Size != null && f.Size != location.Size)
                throw new HubException(HubErrorKind.BadResponse, $"{id}: '{f.Path}' is listed with {f.Size} bytes but served with {location.Size}");
            SemaphoreSlim gate;
            lock (blobLocks) { if (!blobLocks.TryGetValue(location.BlobName, out gate!)) blobLocks[location.BlobName] = gate = new SemaphoreSlim(1, 1); }
            await gate.WaitAsync(token).ConfigureAwait(false);
            try
            {
                if (cache.TryGetBlob(id, location.BlobName, location.Size) == null)
                {
                    long start = -1, last = 0;
                    await downloader.DownloadAsync(id, f.Path, location, cache.BlobPath(id, location.BlobName),
                        bytes =>
                        {
                            if (start < 0) start = bytes;
                            tracker.Bytes(f.Path, bytes - last, bytes, location.Size);
                            last = bytes;
                        },
                        e => tracker.Report(DownloadStage.Retrying, f.Path, last, location.Size), token).ConfigureAwait(false);
                    Interlocked.Add(ref downloaded, location.Size - Math.Max(0, start));
                }
                else tracker.Bytes(f.Path, location.Size, location.Size, location.Size);
                cache.LinkSnapshotFile(id, snapshot.Commit, f.Path, location.BlobName);
            }
            finally { gate.Release(); }
            tracker.FileDone(DownloadStage.FileCompleted, f.Path, location.Size);
        }).ConfigureAwait(false);

        // Like huggingface_hub, make the snapshot folder exist even for an empty selection, then record the ref.
        Directory.CreateDirectory(cache.SnapshotFolder(id, snapshot.Commit));
        cache.WriteRef(id, revision, snapshot.Commit);
        tracker.Report(DownloadStage.Completed, "", 0, 0);
        return new PullResult(id, revision, snapshot.Commit, cache.SnapshotFolder(id, snapshot.Commit), files.Select(f => f.Path).ToList(),
            toDownload.Count, plan.Count - toDownload.Count, downloaded, source.Kind, false);
    }

    /// <summary>The listed files that the patterns select (see <see cref="PullOptions.Include"/>).</summary>
    internal static List<RemoteFile> Select(RemoteSnapshot snapshot, List<GlobPattern> include, List<GlobPattern> exclude, bool requireGgufSelection)
    {
        var all = snapshot.Files;
        bool hasSafetensors = all.Any(f => f.Path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase));
        var defaultExclude = include.Count == 0 && exclude.Count == 0 && hasSafetensors
            ? DuplicateWeightPatterns.Select(p => new GlobPattern(p)).ToList() : [];
        var selected = all.Where(f =>
            (include.Count == 0 || GlobPattern.MatchesAny(include, f.Path)) &&
            !GlobPattern.MatchesAny(exclude, f.Path) && !GlobPattern.MatchesAny(defaultExclude, f.Path)).ToList();

        if (include.Count > 0 && selected.Count == 0)
        {
            var examples = all.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)).Select(f => f.Path).ToList();
            if (examples.Count == 0) examples = all.Select(f => f.Path).ToList();
            throw new HubException(HubErrorKind.EntryNotFound,
                $"{snapshot.Repo}@{snapshot.Revision}: no file matches {string.Join(" ", include.Select(p => $"--include '{p.Pattern}'"))}; " +
                $"files there: {string.Join(", ", examples.Take(12))}{(examples.Count > 12 ? $" (+{examples.Count - 12} more)" : "")}");
        }
        if (requireGgufSelection && include.Count == 0 && !hasSafetensors)
        {
            var ggufs = all.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) && !ModelFolderInspector.IsLaterSplitPart(f.Path)).Select(f => f.Path).ToList();
            if (ggufs.Count > 1)
                throw new HubException(HubErrorKind.Ambiguous,
                    $"{snapshot.Repo} holds {ggufs.Count} GGUF files ({string.Join(", ", ggufs.Take(8))}{(ggufs.Count > 8 ? ", ..." : "")}); " +
                    $"pick one with --include, e.g. --include '{SuggestPattern(ggufs)}'");
        }
        return selected;
    }

    static string SuggestPattern(List<string> ggufs)
    {
        string? q4 = ggufs.FirstOrDefault(g => g.Contains("q4_k_m", StringComparison.OrdinalIgnoreCase));
        return q4 != null ? "*Q4_K_M*.gguf" : "*" + Path.GetFileName(ggufs[0]);
    }

    static PullResult FromCache(HubCache cache, RepoId id, string? revision, List<GlobPattern> include, List<GlobPattern> exclude, HubSource kind)
    {
        string rev = revision ?? (kind == HubSource.ModelScope ? "master" : "main");
        string? commit = cache.ResolveCommit(id, rev) ?? (revision == null ? cache.ResolveCommit(id, kind == HubSource.ModelScope ? "main" : "master") : null);
        if (commit == null)
            throw new HubException(HubErrorKind.Offline,
                $"offline mode (HF_HUB_OFFLINE=1): {id} (revision {rev}) is not in the cache {cache.Root}; " +
                $"download it first with network access: qwensharp pull {id}{(revision != null ? "@" + revision : "")}");
        string folder = cache.SnapshotFolder(id, commit);
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => HubCache.FileSize(f) >= 0)
            .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => (include.Count == 0 || GlobPattern.MatchesAny(include, f)) && !GlobPattern.MatchesAny(exclude, f))
            .Order(StringComparer.Ordinal).ToList();
        if (include.Count > 0 && files.Count == 0)
            throw new HubException(HubErrorKind.Offline,
                $"offline mode (HF_HUB_OFFLINE=1): the cached {id} ({rev}, {commit[..Math.Min(7, commit.Length)]}) has no file matching " +
                $"{string.Join(" ", include.Select(p => $"--include '{p.Pattern}'"))}; download it first with network access");
        return new PullResult(id, rev, commit, folder, files, 0, files.Count, 0, kind, true);
    }

    /// <summary>Adds up the byte counts of parallel downloads and reports them.</summary>
    sealed class ProgressTracker(IProgress<DownloadProgress>? progress, int filesTotal, long totalSize)
    {
        long _total;
        int _filesDone;

        public void Bytes(string file, long delta, long fileBytes, long fileSize)
        {
            long total = Interlocked.Add(ref _total, delta);
            progress?.Report(new DownloadProgress(DownloadStage.Downloading, file, fileBytes, fileSize, total, totalSize, Volatile.Read(ref _filesDone), filesTotal));
        }

        public void FileDone(DownloadStage stage, string file, long size)
        {
            int done = Interlocked.Increment(ref _filesDone);
            progress?.Report(new DownloadProgress(stage, file, size, size, Interlocked.Read(ref _total), totalSize, done, filesTotal));
        }

        public void Report(DownloadStage stage, string file, long fileBytes, long fileSize) =>
            progress?.Report(new DownloadProgress(stage, file, fileBytes, fileSize, Interlocked.Read(ref _total), totalSize, Volatile.Read(ref _filesDone), filesTotal));
    }
}
