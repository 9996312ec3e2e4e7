namespace QwenSharp.Hub;

/// <summary>
/// Turns what a user passes as <c>--model</c> into a local path: an existing file or folder as it is, or a
/// repository id (<c>Org/Name[@revision]</c>) as its snapshot folder in the cache, downloading it first when
/// needed. With an include pattern that selects GGUF files (<c>--include '*Q4_K_M.gguf'</c>) the single
/// matching .gguf file is returned instead (the first part, for a split file).
/// </summary>
public static class ModelLocator
{
    /// <summary>
    /// Resolves <paramref name="model"/> to a local path. Offline (HF_HUB_OFFLINE=1, or
    /// <see cref="ModelResolveOptions.AllowDownload"/> false) only the cache is used and a missing model is a
    /// clear error; online the Hub is asked for the revision's commit (one small request) and missing files
    /// are downloaded, and when the Hub cannot be reached a cached snapshot of the revision is used.
    /// </summary>
    /// <exception cref="HubException">The model is not a path, not a valid repo id, not found, not accessible
    /// (gated: set HF_TOKEN), not cached while offline, or the include pattern matches several GGUF models.</exception>
    public static async Task<string> Resolve(string model, ModelResolveOptions? options = null, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (File.Exists(model) || Directory.Exists(model)) return model;
        options ??= new ModelResolveOptions();
        if (!RepoId.TryParse(model, out _, out _))
            throw new HubException(HubErrorKind.InvalidArgument,
                $"'{model}' is neither an existing file or folder nor a repository id (Owner/Name or Owner/Name@revision, e.g. Qwen/Qwen3-0.6B)");

        var env = options.Environment ?? HubEnvironment.Current;
        bool offline = !options.AllowDownload || (options.Offline ?? env.Offline);
        var pullOptions = new PullOptions
        {
            Revision = options.Revision, Include = options.Include, Exclude = options.Exclude, Source = options.Source,
            Endpoint = options.Endpoint, Token = options.Token, Parallelism = options.Parallelism, CacheDir = options.CacheDir,
            MaxRetries = options.MaxRetries, Environment = env, Offline = offline, RequireGgufSelection = true,
        };

        PullResult result;
        using (var client = new HubClient())
        {
            try
            {
                result = await client.PullAsync(model, pullOptions, progress, ct).ConfigureAwait(false);
            }
            catch (HubException e) when (e.Kind == HubErrorKind.Network && !offline)
            {
                // No network: fall back to what the cache has for this revision, as huggingface_hub does.
                try { result = await client.PullAsync(model, new PullOptions { Revision = options.Revision, Include = options.Include, Exclude = options.Exclude, Source = options.Source, CacheDir = options.CacheDir, Environment = env, Offline = true }, null, ct).ConfigureAwait(false); }
                catch (HubException) { throw e; }
            }
        }
        return PickPath(result, options.Include.Count > 0);
    }

    static string PickPath(PullResult result, bool hasInclude)
    {
        if (!hasInclude) return result.SnapshotPath;
        var ggufs = result.Files.Where(f => f.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) && !ModelFolderInspector.IsLaterSplitPart(f)).ToList();
        if (ggufs.Count == 0) return result.SnapshotPath;
        if (ggufs.Count > 1)
            throw new HubException(HubErrorKind.Ambiguous,
                $"{result.Repo}: the include pattern matches {ggufs.Count} GGUF files ({string.Join(", ", ggufs.Take(6))}); give a pattern that selects one");
        return Path.Combine(result.SnapshotPath, ggufs[0].Replace('/', Path.DirectorySeparatorChar));
    }
}
