namespace QwenSharp.Hub;

/// <summary>
/// The model cache, in the layout of Python's huggingface_hub, so both share downloads:
/// <code>
/// $HF_HUB_CACHE/models--Owner--Name/
///     blobs/&lt;sha256 or git blob id&gt;             the content, once (".incomplete" while downloading)
///     snapshots/&lt;commit&gt;/&lt;path in repo&gt;   relative symlinks to ../../blobs/... (copies where symlinks fail)
///     refs/&lt;branch or tag&gt;                      a text file holding the commit
/// $HF_HUB_CACHE/.locks/models--Owner--Name/...   (huggingface_hub's lock files; removed with the repo)
/// </code>
/// Every name that becomes a path (file names, commits, blob names, refs) is checked first.
/// </summary>
public sealed class HubCache
{
    public string Root { get; }

    /// <param name="root">The cache folder (default HF_HUB_CACHE, see <see cref="HubEnvironment"/>).</param>
    public HubCache(string? root = null) => Root = Path.GetFullPath(root ?? HubEnvironment.Current.CacheDir);

    public string RepoFolder(RepoId repo) => Path.Combine(Root, repo.CacheFolderName);

    public string SnapshotFolder(RepoId repo, string commit)
    {
        CheckName(commit, "commit");
        return Path.Combine(RepoFolder(repo), "snapshots", commit);
    }

    public string BlobPath(RepoId repo, string blobName)
    {
        if (!HubHttp.IsSafeBlobName(blobName)) throw new HubException(HubErrorKind.UnsafePath, $"{repo}: refused blob name '{blobName}'");
        return Path.Combine(RepoFolder(repo), "blobs", blobName);
    }

    /// <summary>The commit a branch or tag points to, from refs/ (null when unknown).</summary>
    public string? ReadRef(RepoId repo, string revision)
    {
        if (!RepoId.IsValidRevision(revision)) return null;
        string path = Path.Combine(RepoFolder(repo), "refs", revision.Replace('/', Path.DirectorySeparatorChar));
        try
        {
            if (!File.Exists(path)) return null;
            string commit = File.ReadAllText(path).Trim();
            return RepoId.IsCommitHash(commit) || HubHttp.IsSafeBlobName(commit) ? commit : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Writes refs/&lt;revision&gt; atomically (nothing for a revision that is the commit itself).</summary>
    public void WriteRef(RepoId repo, string revision, string commit)
    {
        if (revision == commit) return;
        if (!RepoId.IsValidRevision(revision)) throw new HubException(HubErrorKind.InvalidArgument, $"{repo}: invalid revision '{revision}'");
        CheckName(commit, "commit");
        string path = Path.Combine(RepoFolder(repo), "refs", revision.Replace('/', Path.DirectorySeparatorChar));
        if (ReadRef(repo, revision) == commit) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string tmp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllText(tmp, commit);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// The commit of a cached snapshot for a revision: a branch or tag from refs/, a full commit hash, or a
    /// commit prefix of at least 7 digits that matches exactly one snapshot. Null when nothing is cached.
    /// </summary>
    public string? ResolveCommit(RepoId repo, string revision)
    {
        string snapshots = Path.Combine(RepoFolder(repo), "snapshots");
        if (ReadRef(repo, revision) is { } fromRef && Directory.Exists(Path.Combine(snapshots, fromRef))) return fromRef;
        if (!Directory.Exists(snapshots) || !RepoId.IsValidRevision(revision)) return null;
        if (revision.Contains('/')) return null;
        if (Directory.Exists(Path.Combine(snapshots, revision)) && RepoId.IsCommitHash(revision)) return revision;
        if (revision.Length >= 7 && revision.All(Uri.IsHexDigit))
        {
            var matches = Directory.GetDirectories(snapshots).Select(Path.GetFileName).Where(n => n!.StartsWith(revision, StringComparison.Ordinal)).ToList();
            if (matches.Count == 1) return matches[0];
        }
        return null;
    }

    /// <summary>The snapshot file for <paramref name="repoPath"/> when it is present (its symlink resolves)
    /// and, if <paramref name="expectedSize"/> is given, has that size.</summary>
    public string? TryGetSnapshotFile(RepoId repo, string commit, string repoPath, long? expectedSize)
    {
        string file = RepoPath.Combine(SnapshotFolder(repo, commit), repoPath, repo.Id);
        long size = FileSize(file);
        if (size < 0) return null;
        return expectedSize == null || size == expectedSize ? file : null;
    }

    /// <summary>The blob when it is present with the expected size.</summary>
    public string? TryGetBlob(RepoId repo, string? blobName, long? expectedSize)
    {
        if (blobName == null || !HubHttp.IsSafeBlobName(blobName)) return null;
        string blob = BlobPath(repo, blobName);
        long size = FileSize(blob);
        return size >= 0 && (expectedSize == null || size == expectedSize) ? blob : null;
    }

    /// <summary>
    /// Points snapshots/&lt;commit&gt;/&lt;repoPath&gt; at blobs/&lt;blobName&gt; with a relative symlink, as
    /// huggingface_hub does (../../blobs/x, one more ../ per folder level); copies the blob where the file
    /// system refuses symlinks (Windows without developer mode).
    /// </summary>
    public string LinkSnapshotFile(RepoId repo, string commit, string repoPath, string blobName)
    {
        string blob = BlobPath(repo, blobName);
        string target = RepoPath.Combine(SnapshotFolder(repo, commit), repoPath, repo.Id);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string relative = Path.GetRelativePath(Path.GetDirectoryName(target)!, blob);
        string tmp = target + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            File.CreateSymbolicLink(tmp, relative);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, tmp, overwrite: true);
        }
        File.Move(tmp, target, overwrite: true);
        return target;
    }

    /// <summary>Every cached model repository (datasets and spaces are left out), sorted by id.</summary>
    public IReadOnlyList<CachedModel> List()
    {
        if (!Directory.Exists(Root)) return [];
        var result = new List<CachedModel>();
        foreach (var dir in Directory.GetDirectories(Root).Order(StringComparer.Ordinal))
            if (RepoId.TryParseCacheFolder(Path.GetFileName(dir), out var repo) && Get(repo) is { } m) result.Add(m);
        return result;
    }

    /// <summary>One cached repository, or null when it is not cached.</summary>
    public CachedModel? Get(RepoId repo)
    {
        string folder = RepoFolder(repo);
        if (!Directory.Exists(folder)) return null;
        var refs = ReadAllRefs(folder);
        var revisions = new List<(CachedRevision rev, DateTime time)>();
        string snapshots = Path.Combine(folder, "snapshots");
        if (Directory.Exists(snapshots))
        {
            foreach (var snap in Directory.GetDirectories(snapshots))
            {
                string commit = Path.GetFileName(snap);
                var files = Directory.EnumerateFiles(snap, "*", SearchOption.AllDirectories)
                    .Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal))
                    .Select(f => (rel: Path.GetRelativePath(snap, f).Replace(Path.DirectorySeparatorChar, '/'), size: FileSize(f)))
                    .Where(f => f.size >= 0).OrderBy(f => f.rel, StringComparer.Ordinal).ToList();
                var names = refs.Where(r => r.Value == commit).Select(r => r.Key).Order(StringComparer.Ordinal).ToList();
                revisions.Add((new CachedRevision(commit, names, snap, files.Select(f => f.rel).ToList(), files.Sum(f => f.size), ModelFolderInspector.Inspect(snap)),
                    Directory.GetLastWriteTimeUtc(snap)));
            }
        }
        long onDisk = 0, incomplete = 0;
        string blobs = Path.Combine(folder, "blobs");
        if (Directory.Exists(blobs))
            foreach (var b in new DirectoryInfo(blobs).EnumerateFiles())
            {
                onDisk += b.Length;
                if (b.Name.EndsWith(".incomplete", StringComparison.Ordinal)) incomplete += b.Length;
            }
        // Snapshot files that are copies rather than symlinks take space of their own.
        foreach (var (rev, _) in revisions)
            foreach (var f in Directory.EnumerateFiles(rev.Path, "*", SearchOption.AllDirectories))
                if (new FileInfo(f) is { LinkTarget: null } fi) onDisk += fi.Length;
        return new CachedModel(repo, folder, onDisk, incomplete, revisions.OrderByDescending(r => r.time).Select(r => r.rev).ToList());
    }

    /// <summary>
    /// Removes a repository, or one revision of it (a branch/tag name, a commit or a commit prefix): its
    /// snapshot, the refs pointing to it and the blobs no other snapshot uses. Removing the last snapshot
    /// removes the whole repository folder (and its lock folder).
    /// </summary>
    public RemovalResult Remove(RepoId repo, string? revision = null)
    {
        var model = Get(repo) ?? throw new HubException(HubErrorKind.Cache, $"{repo} is not in the cache ({Root})");
        if (revision == null || model.Revisions.Count == 0)
            return RemoveWhole(model);

        string commit = ResolveCommit(repo, revision)
            ?? throw new HubException(HubErrorKind.Cache,
                $"{repo}: revision '{revision}' is not in the cache; cached: {string.Join(", ", model.Revisions.Select(r => $"{r.DisplayName} ({r.Commit[..Math.Min(7, r.Commit.Length)]})"))}");
        if (model.Revisions.Count == 1 && model.Revisions[0].Commit == commit) return RemoveWhole(model);

        var keep = model.Revisions.Where(r => r.Commit != commit).ToList();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in keep)
            foreach (var f in Directory.EnumerateFiles(r.Path, "*", SearchOption.AllDirectories))
                if (new FileInfo(f).LinkTarget is { } t) used.Add(Path.GetFileName(t));

        var gone = model.Revisions.First(r => r.Commit == commit);
        long freed = 0;
        var snapshotBlobs = Directory.EnumerateFiles(gone.Path, "*", SearchOption.AllDirectories)
            .Select(f => new FileInfo(f)).ToList();
        foreach (var fi in snapshotBlobs)
        {
            if (fi.LinkTarget is { } t)
            {
                string name = Path.GetFileName(t);
                string blob = Path.Combine(model.Path, "blobs", name);
                if (!used.Contains(name) && File.Exists(blob)) { freed += new FileInfo(blob).Length; File.Delete(blob); used.Add(name); }
            }
            else freed += fi.Length;
        }
        Directory.Delete(gone.Path, recursive: true);
        foreach (var (name, c) in ReadAllRefs(model.Path))
            if (c == commit) File.Delete(Path.Combine(model.Path, "refs", name.Replace('/', Path.DirectorySeparatorChar)));
        return new RemovalResult(repo, [commit], freed, false);
    }

    RemovalResult RemoveWhole(CachedModel model)
    {
        Directory.Delete(model.Path, recursive: true);
        string locks = Path.Combine(Root, ".locks", model.Repo.CacheFolderName);
        if (Directory.Exists(locks)) Directory.Delete(locks, recursive: true);
        return new RemovalResult(model.Repo, model.Revisions.Select(r => r.Commit).ToList(), model.SizeOnDisk, true);
    }

    static Dictionary<string, string> ReadAllRefs(string repoFolder)
    {
        var refs = new Dictionary<string, string>(StringComparer.Ordinal);
        string dir = Path.Combine(repoFolder, "refs");
        if (!Directory.Exists(dir)) return refs;
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            if (f.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            try { refs[Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/')] = File.ReadAllText(f).Trim(); }
            catch (IOException) { }
        }
        return refs;
    }

    /// <summary>Size of a file through its symlink; -1 when missing or dangling.</summary>
    internal static long FileSize(string path)
    {
        try
        {
            var fi = new FileInfo(path);
            if (!fi.Exists) return -1;
            if (fi.LinkTarget != null)
                return fi.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } t ? t.Length : -1;
            return fi.Length;
        }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
    }

    static void CheckName(string name, string what)
    {
        if (!HubHttp.IsSafeBlobName(name)) throw new HubException(HubErrorKind.UnsafePath, $"refused {what} '{name}'");
    }
}
